// isDatabaseUnavailable: the errors seen while PostgreSQL restarts or crashes (taken from
// pg-restart.int.test.ts runs) count as "unavailable"; query errors and anything else do not.
import { describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import { isDatabaseUnavailable } from "./db";

const prisma = (code: string, message: string, meta?: unknown) =>
  Object.assign(new Error(message), { name: "PrismaClientKnownRequestError", code, meta });

describe("isDatabaseUnavailable", () => {
  it.each([
    ["server down (P1001)", prisma("P1001", "Can't reach database server at 127.0.0.1:5432")],
    [
      "raw query, adapter kind",
      prisma("P2010", "Raw query failed.", { driverAdapterError: { cause: { kind: "DatabaseNotReachable" } } }),
    ],
    [
      "fast shutdown (57P01)",
      prisma("P2010", "Database error. Code: `57P01`.", { driverAdapterError: { cause: { originalCode: "57P01" } } }),
    ],
    ["starting up (57P03)", Object.assign(new Error("the database system is starting up"), { code: "57P03" })],
    ["pg: connection lost mid-query", new Error("Connection terminated unexpectedly")],
    ["pg: client broken by an idle error", new Error("Client has encountered a connection error and is not queryable")],
    ["pg.Pool: no connection in time", new Error("timeout exceeded when trying to connect")],
    [
      "wrapped by better-auth",
      Object.assign(new Error("Failed to get session"), { cause: prisma("P1001", "Can't reach") }),
    ],
    ["Prisma could not start", Object.assign(new Error("init"), { name: "PrismaClientInitializationError" })],
  ])("%s → unavailable", (_what, error) => expect(isDatabaseUnavailable(error)).toBe(true));

  it.each([
    ["unique violation", prisma("P2002", "Unique constraint failed on the fields: (`name`)")],
    ["record not found", prisma("P2025", "No record was found for an update.")],
    ["an AppError", new AppError({ code: "conflict", message: "No x86_64 host has room" })],
    ["an agent that refuses", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" })],
    ["not an error", "Connection terminated"],
    [
      "a cycle of causes",
      (() => {
        const e: { cause?: unknown } = {};
        e.cause = e;
        return e;
      })(),
    ],
  ])("%s → not unavailable", (_what, error) => expect(isDatabaseUnavailable(error)).toBe(false));
});
