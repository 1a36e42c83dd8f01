import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import type { Actor } from "../platform";
import { getImageFamily, listImageFamilies, resolveFamily } from "./families";

const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };

async function build(family: string | null, arch: string, status = "ready", name = `${family}-${arch}`) {
  return db().image.create({ data: { name, family, arch, format: "kernel", status } });
}

describe.each(PROVIDERS)("image families on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
    rmSync(process.env.POLYARCH_DATA_DIR!, { recursive: true, force: true });
  });

  it("resolves a family to the ready build of the asked arch", async () => {
    const x = await build("debian-12", "x86_64");
    const a = await build("debian-12", "aarch64");
    await build("alpine", "x86_64");
    expect((await resolveFamily("debian-12", "x86_64", admin)).id).toBe(x.id);
    expect((await resolveFamily("debian-12", "aarch64", admin)).id).toBe(a.id);
    expect(await resolveFamily("debian-12", "any", admin)).toEqual(["x86_64", "aarch64"]);
    expect(await resolveFamily("alpine", "any", admin)).toEqual(["x86_64"]);
  });

  it("names what exists when the arch has no build, or its build is not ready; unknown families are not found", async () => {
    await build("alpine", "x86_64");
    await build("fedora", "x86_64", "validating");
    await expect(resolveFamily("alpine", "aarch64", admin)).rejects.toMatchObject({
      code: "unprocessable",
      message: expect.stringMatching(/no aarch64 build; it has x86_64/),
    });
    await expect(resolveFamily("fedora", "x86_64", admin)).rejects.toMatchObject({
      code: "unprocessable",
      message: expect.stringMatching(/validating, not ready/),
    });
    await expect(resolveFamily("fedora", "any", admin)).rejects.toMatchObject({
      code: "unprocessable",
      message: expect.stringMatching(/no ready build/),
    });
    await expect(resolveFamily("nope", "x86_64", admin)).rejects.toMatchObject({ code: "not_found" });
  });

  it("lists families with their builds in canonical arch order, ignoring images without a family", async () => {
    const a = await build("debian-12", "aarch64");
    const x = await build("debian-12", "x86_64", "error");
    await build(null, "x86_64", "ready", "loose");
    expect(await listImageFamilies(admin)).toEqual([
      {
        family: "debian-12",
        builds: [
          { arch: "x86_64", imageId: x.id, name: "debian-12-x86_64", status: "error" },
          { arch: "aarch64", imageId: a.id, name: "debian-12-aarch64", status: "ready" },
        ],
      },
    ]);
    expect((await getImageFamily("debian-12", admin)).builds).toHaveLength(2);
    await expect(getImageFamily("loose", admin)).rejects.toMatchObject({ code: "not_found" });
  });

  it("the database refuses a second build of one arch in a family", async () => {
    await build("debian-12", "x86_64");
    await expect(build("debian-12", "x86_64", "ready", "dup")).rejects.toMatchObject({ code: "P2002" });
  });
});
