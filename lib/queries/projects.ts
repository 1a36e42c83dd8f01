// Query keys/options for projects: the Projects page refreshes through server actions; the VM
// wizard lists the projects the user may create VMs in (admins: all).
import { queryOptions } from "@tanstack/react-query";
import type { z } from "zod";
import type { projectListDtoSchema } from "../schemas/projects";
import { fetchJson } from "./fetch-json";

export const projectKeys = { all: ["projects"] as const };

export const projectsQuery = () =>
  queryOptions({
    queryKey: projectKeys.all,
    queryFn: () => fetchJson<z.infer<typeof projectListDtoSchema>>("/api/v1/projects"),
    staleTime: 30_000,
  });
