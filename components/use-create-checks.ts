"use client";
// Loads the wizard's name and CPU-model checks (vm-create-checks.ts, which carries zod) on demand: only
// once `wanted`, i.e. when the wizard nears its review step, so the first load of /vms/new stays small.
import { useEffect, useState } from "react";
import type * as checkModule from "./vm-create-checks";

export type CreateChecks = typeof checkModule;

export function useCreateChecks(wanted: boolean): { checks: CreateChecks | null; loadError: string | null } {
  const [checks, setChecks] = useState<CreateChecks | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  useEffect(() => {
    if (!wanted || checks) return;
    let live = true;
    import("./vm-create-checks").then(
      (m) => live && setChecks(m),
      () => live && setLoadError("The form's checks could not be loaded; reload the page to create the VM."),
    );
    return () => {
      live = false;
    };
  }, [wanted, checks]);
  return { checks, loadError };
}
