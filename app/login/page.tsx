import { redirect } from "next/navigation";
import { LoginForm } from "@/components/login-form";
import { currentActor } from "@/lib/server/identity";
import { safeNext } from "@/lib/safe-next";

export const metadata = { title: "Sign in" };

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string | string[] }> }) {
  const { next } = await searchParams;
  // Only same-origin paths (lib/safe-next.ts): never bounce a user to another site after sign-in.
  const target = safeNext(next);
  if (await currentActor()) redirect(target);
  return (
    <main className="flex min-h-screen items-center justify-center p-6">
      <div className="w-full max-w-sm rounded-xl border border-slate-200 bg-white p-8 shadow-sm">
        <h1 className="mb-1 text-2xl font-semibold">Polyarch</h1>
        <p className="mb-6 text-sm text-slate-500">Sign in to the x86_64 + aarch64 cloud console</p>
        <LoginForm next={target} />
      </div>
    </main>
  );
}
