// Query keys/options for projects: the Projects page refreshes through server actions; the VM
// wizard lists the projects the user may create VMs in (admins: all).
import { queryOptions } from "@tanstack/react-query";
import { fetchJson } from "./fetch-json";

export type ProjectOption = { id: string; name: string; description: string | null; isDefault: boolean; vmCount: number };

export const projectKeys = { all: ["projects"] as const };

export const projectsQuery = () =>
  queryOptions({ queryKey: projectKeys.all, queryFn: () => fetchJson<{ items: ProjectOption[]; total: number }>("/api/v1/projects"), staleTime: 30_000 });
