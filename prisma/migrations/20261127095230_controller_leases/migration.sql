-- AlterTable
ALTER TABLE "Task" ADD COLUMN "controllerId" TEXT;

-- CreateTable
CREATE TABLE "Lease" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "holder" TEXT NOT NULL,
    "acquiredAtMs" BIGINT NOT NULL,
    "renewedAtMs" BIGINT NOT NULL,
    "expiresAtMs" BIGINT NOT NULL,
    "fencing" INTEGER NOT NULL DEFAULT 1,
    "runs" INTEGER NOT NULL DEFAULT 0,
    "lastRunAtMs" BIGINT
);

-- CreateTable
CREATE TABLE "JobRun" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "job" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "fencing" INTEGER NOT NULL,
    "startedAtMs" BIGINT NOT NULL,
    "finishedAtMs" BIGINT,
    "ok" BOOLEAN,
    "error" TEXT
);

-- CreateIndex
CREATE INDEX "JobRun_job_startedAtMs_idx" ON "JobRun"("job", "startedAtMs");

