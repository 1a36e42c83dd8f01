-- AlterTable
ALTER TABLE "Host" ADD COLUMN "certExpiresAt" DATETIME;
ALTER TABLE "Host" ADD COLUMN "certFingerprint" TEXT;
ALTER TABLE "Host" ADD COLUMN "revokedAt" DATETIME;

-- CreateTable
CREATE TABLE "JoinToken" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tokenHash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "note" TEXT,
    "singleUse" BOOLEAN NOT NULL DEFAULT true,
    "expiresAt" DATETIME NOT NULL,
    "usedAt" DATETIME,
    "usedByHostId" TEXT,
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE UNIQUE INDEX "JoinToken_tokenHash_key" ON "JoinToken"("tokenHash");

