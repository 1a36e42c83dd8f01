import { toNextJsHandler } from "better-auth/next-js";
import { auth } from "@/lib/server/identity";

// better-auth's own endpoints (sign-in, sign-out, session). Sign-up and its admin endpoints are disabled.
const handler = (req: Request) => auth().handler(req);
export const { GET, POST } = toNextJsHandler(handler);
