export declare function offlinePrismaEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
