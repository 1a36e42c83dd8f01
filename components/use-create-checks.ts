"use client";
// Loads the wizard's name and CPU-model checks (vm-create-checks.ts, which carries zod) on demand: only
// once `wanted`, i.e. when the wizard nears its review step, so the first load of /vms/new stays small.
import { useTranslations } from "next-intl";
import { useEffect, useState } from "react";
import type * as checkModule from "./vm-create-checks";

export type CreateChecks = typeof checkModule;

export function useCreateChecks(wanted: boolean): { checks: CreateChecks | null; loadError: string | null } {
  const [checks, setChecks] = useState<CreateChecks | null>(null);
  const [failed, setFailed] = useState(false);
  const t = useTranslations("wizard");
  useEffect(() => {
    if (!wanted || checks) return;
    let live = true;
    import("./vm-create-checks").then(
      (m) => live && setChecks(m),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [wanted, checks]);
  return { checks, loadError: failed ? t("checksFailed") : null };
}
