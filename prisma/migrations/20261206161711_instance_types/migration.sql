-- CreateTable
CREATE TABLE "InstanceType" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "arch" TEXT,
    "description" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
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
    "machineType" TEXT,
    "cpuModel" TEXT,
    "generation" INTEGER NOT NULL DEFAULT 1,
    "ha" BOOLEAN NOT NULL DEFAULT false,
    "migratingToHostId" TEXT,
    "instanceTypeId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Vm_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Vm_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Vm_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Vm_mediaImageId_fkey" FOREIGN KEY ("mediaImageId") REFERENCES "Image" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "Vm_instanceTypeId_fkey" FOREIGN KEY ("instanceTypeId") REFERENCES "InstanceType" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Vm" ("allowEmulation", "arch", "cpuModel", "createdAt", "desiredState", "diskGb", "display", "emulated", "generation", "ha", "hostId", "id", "imageId", "lastError", "machineType", "mediaImageId", "memoryMb", "migratingToHostId", "name", "ownerId", "powerState", "projectId", "status", "updatedAt", "userData", "vcpus") SELECT "allowEmulation", "arch", "cpuModel", "createdAt", "desiredState", "diskGb", "display", "emulated", "generation", "ha", "hostId", "id", "imageId", "lastError", "machineType", "mediaImageId", "memoryMb", "migratingToHostId", "name", "ownerId", "powerState", "projectId", "status", "updatedAt", "userData", "vcpus" FROM "Vm";
DROP TABLE "Vm";
ALTER TABLE "new_Vm" RENAME TO "Vm";
CREATE INDEX "Vm_projectId_idx" ON "Vm"("projectId");
CREATE INDEX "Vm_status_idx" ON "Vm"("status");
CREATE INDEX "Vm_arch_status_idx" ON "Vm"("arch", "status");
CREATE INDEX "Vm_hostId_idx" ON "Vm"("hostId");
CREATE INDEX "Vm_name_idx" ON "Vm"("name");
CREATE INDEX "Vm_createdAt_idx" ON "Vm"("createdAt");
CREATE INDEX "Vm_instanceTypeId_idx" ON "Vm"("instanceTypeId");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE UNIQUE INDEX "InstanceType_name_key" ON "InstanceType"("name");

-- CreateIndex
CREATE INDEX "InstanceType_arch_idx" ON "InstanceType"("arch");

