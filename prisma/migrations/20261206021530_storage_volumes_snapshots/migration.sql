-- CreateTable
CREATE TABLE "Volume" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "sizeGb" INTEGER NOT NULL,
    "hostId" TEXT,
    "vmId" TEXT,
    "imageId" TEXT,
    "projectId" TEXT,
    "ownerId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'creating',
    "lastError" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Volume_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Volume_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Volume_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Volume_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Snapshot" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "vmId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "memory" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL DEFAULT 'creating',
    "claimedDiskGb" INTEGER NOT NULL DEFAULT 0,
    "vmStateBytes" BIGINT NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "createdById" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Snapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Vm" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "arch" TEXT NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "imageId" TEXT,
    "hostId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "powerState" TEXT NOT NULL DEFAULT 'unknown',
    "desiredState" TEXT NOT NULL DEFAULT 'running',
    "emulated" BOOLEAN NOT NULL DEFAULT false,
    "allowEmulation" BOOLEAN NOT NULL DEFAULT false,
    "lastError" TEXT,
    "ownerId" TEXT,
    "projectId" TEXT,
    "userData" TEXT,
    "display" TEXT,
    "mediaImageId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Vm_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Vm_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Vm_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Vm_mediaImageId_fkey" FOREIGN KEY ("mediaImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Vm" ("allowEmulation", "arch", "createdAt", "desiredState", "diskGb", "display", "emulated", "hostId", "id", "imageId", "lastError", "memoryMb", "name", "ownerId", "powerState", "projectId", "status", "updatedAt", "userData", "vcpus") SELECT "allowEmulation", "arch", "createdAt", "desiredState", "diskGb", "display", "emulated", "hostId", "id", "imageId", "lastError", "memoryMb", "name", "ownerId", "powerState", "projectId", "status", "updatedAt", "userData", "vcpus" FROM "Vm";
DROP TABLE "Vm";
ALTER TABLE "new_Vm" RENAME TO "Vm";
CREATE INDEX "Vm_projectId_idx" ON "Vm"("projectId");
CREATE INDEX "Vm_status_idx" ON "Vm"("status");
CREATE INDEX "Vm_arch_status_idx" ON "Vm"("arch", "status");
CREATE INDEX "Vm_hostId_idx" ON "Vm"("hostId");
CREATE INDEX "Vm_name_idx" ON "Vm"("name");
CREATE INDEX "Vm_createdAt_idx" ON "Vm"("createdAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "Volume_hostId_idx" ON "Volume"("hostId");

-- CreateIndex
CREATE INDEX "Volume_vmId_idx" ON "Volume"("vmId");

-- CreateIndex
CREATE INDEX "Volume_projectId_idx" ON "Volume"("projectId");

-- CreateIndex
CREATE INDEX "Volume_name_idx" ON "Volume"("name");

-- CreateIndex
CREATE INDEX "Snapshot_vmId_idx" ON "Snapshot"("vmId");

-- CreateIndex
CREATE UNIQUE INDEX "Snapshot_vmId_name_key" ON "Snapshot"("vmId", "name");

