import "server-only";
// Shared pieces of every paginated list query.
import { isPostgres } from "./db";

export function nameSearch(q: string | undefined, field = "name") {
  if (!q) return {};
  // SQLite's LIKE is already case-insensitive for ASCII; PostgreSQL needs ILIKE (mode: insensitive).
  return { [field]: isPostgres() ? { contains: q, mode: "insensitive" as const } : { contains: q } };
}

export function pageArgs(page: number, pageSize: number) {
  return { skip: (page - 1) * pageSize, take: pageSize };
}
