-- AlterTable
ALTER TABLE "JoinToken" ADD COLUMN "arch" TEXT;

-- AlterTable
ALTER TABLE "Project" ADD COLUMN "imageQuotaBytes" BIGINT;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Host" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "arch" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'offline',
    "adminState" TEXT NOT NULL DEFAULT 'enabled',
    "approval" TEXT NOT NULL DEFAULT 'approved',
    "approvedAt" DATETIME,
    "approvedById" TEXT,
    "cpuModel" TEXT,
    "cpuCount" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "cpuAllocationRatio" REAL NOT NULL DEFAULT 4,
    "ramAllocationRatio" REAL NOT NULL DEFAULT 1,
    "reservedCpus" INTEGER NOT NULL DEFAULT 0,
    "reservedMemoryMb" INTEGER NOT NULL DEFAULT 0,
    "reservedDiskGb" INTEGER NOT NULL DEFAULT 0,
    "allocatedCpus" INTEGER NOT NULL DEFAULT 0,
    "allocatedMemoryMb" INTEGER NOT NULL DEFAULT 0,
    "allocatedDiskGb" INTEGER NOT NULL DEFAULT 0,
    "kvm" BOOLEAN NOT NULL DEFAULT false,
    "nativeArches" TEXT NOT NULL DEFAULT '[]',
    "emulatedArches" TEXT NOT NULL DEFAULT '[]',
    "maxVcpusNative" INTEGER,
    "maxVcpusEmulated" INTEGER,
    "qemuVersion" TEXT,
    "ovsDatapath" TEXT,
    "agentUrl" TEXT,
    "agentTokenHash" TEXT,
    "tokenGeneration" INTEGER NOT NULL DEFAULT 0,
    "certFingerprint" TEXT,
    "certExpiresAt" DATETIME,
    "revokedAt" DATETIME,
    "machineId" TEXT,
    "facts" TEXT,
    "lastHeartbeatAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Host" ("adminState", "agentTokenHash", "agentUrl", "allocatedCpus", "allocatedDiskGb", "allocatedMemoryMb", "arch", "certExpiresAt", "certFingerprint", "cpuAllocationRatio", "cpuCount", "cpuModel", "createdAt", "diskGb", "emulatedArches", "facts", "id", "kvm", "lastHeartbeatAt", "machineId", "maxVcpusEmulated", "maxVcpusNative", "memoryMb", "name", "nativeArches", "ovsDatapath", "qemuVersion", "ramAllocationRatio", "reservedCpus", "reservedDiskGb", "reservedMemoryMb", "revokedAt", "status", "tokenGeneration", "updatedAt") SELECT "adminState", "agentTokenHash", "agentUrl", "allocatedCpus", "allocatedDiskGb", "allocatedMemoryMb", "arch", "certExpiresAt", "certFingerprint", "cpuAllocationRatio", "cpuCount", "cpuModel", "createdAt", "diskGb", "emulatedArches", "facts", "id", "kvm", "lastHeartbeatAt", "machineId", "maxVcpusEmulated", "maxVcpusNative", "memoryMb", "name", "nativeArches", "ovsDatapath", "qemuVersion", "ramAllocationRatio", "reservedCpus", "reservedDiskGb", "reservedMemoryMb", "revokedAt", "status", "tokenGeneration", "updatedAt" FROM "Host";
DROP TABLE "Host";
ALTER TABLE "new_Host" RENAME TO "Host";
CREATE UNIQUE INDEX "Host_name_key" ON "Host"("name");
CREATE UNIQUE INDEX "Host_agentTokenHash_key" ON "Host"("agentTokenHash");
CREATE UNIQUE INDEX "Host_machineId_key" ON "Host"("machineId");
CREATE INDEX "Host_arch_status_idx" ON "Host"("arch", "status");
CREATE INDEX "Host_status_idx" ON "Host"("status");
CREATE TABLE "new_Image" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "family" TEXT,
    "arch" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "sizeBytes" BIGINT NOT NULL DEFAULT 0,
    "virtualSize" BIGINT NOT NULL DEFAULT 0,
    "sha256" TEXT,
    "firmware" TEXT NOT NULL DEFAULT 'bios',
    "status" TEXT NOT NULL DEFAULT 'pending',
    "visibility" TEXT NOT NULL DEFAULT 'project',
    "projectId" TEXT,
    "path" TEXT,
    "kernelPath" TEXT,
    "initrdPath" TEXT,
    "initrdSha256" TEXT,
    "cmdline" TEXT,
    "minDiskGb" INTEGER NOT NULL DEFAULT 1,
    "minMemoryMb" INTEGER NOT NULL DEFAULT 128,
    "detectedArch" TEXT,
    "error" TEXT,
    "uploadControllerId" TEXT,
    "ownerId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Image_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Image" ("arch", "cmdline", "createdAt", "detectedArch", "error", "family", "firmware", "format", "id", "initrdPath", "initrdSha256", "kernelPath", "minDiskGb", "minMemoryMb", "name", "ownerId", "path", "sha256", "sizeBytes", "status", "updatedAt", "uploadControllerId", "virtualSize", "visibility") SELECT "arch", "cmdline", "createdAt", "detectedArch", "error", "family", "firmware", "format", "id", "initrdPath", "initrdSha256", "kernelPath", "minDiskGb", "minMemoryMb", "name", "ownerId", "path", "sha256", "sizeBytes", "status", "updatedAt", "uploadControllerId", "virtualSize", "visibility" FROM "Image";
DROP TABLE "Image";
ALTER TABLE "new_Image" RENAME TO "Image";
CREATE INDEX "Image_arch_status_idx" ON "Image"("arch", "status");
CREATE INDEX "Image_name_idx" ON "Image"("name");
CREATE INDEX "Image_projectId_idx" ON "Image"("projectId");
CREATE UNIQUE INDEX "Image_family_arch_key" ON "Image"("family", "arch");
CREATE TABLE "new_Network" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "vlanId" INTEGER NOT NULL,
    "cidr" TEXT NOT NULL,
    "gateway" TEXT NOT NULL,
    "poolStart" TEXT NOT NULL,
    "poolEnd" TEXT NOT NULL,
    "projectId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Network_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Network" ("cidr", "createdAt", "gateway", "id", "name", "poolEnd", "poolStart", "updatedAt", "vlanId") SELECT "cidr", "createdAt", "gateway", "id", "name", "poolEnd", "poolStart", "updatedAt", "vlanId" FROM "Network";
DROP TABLE "Network";
ALTER TABLE "new_Network" RENAME TO "Network";
CREATE UNIQUE INDEX "Network_name_key" ON "Network"("name");
CREATE UNIQUE INDEX "Network_vlanId_key" ON "Network"("vlanId");
CREATE INDEX "Network_projectId_idx" ON "Network"("projectId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

