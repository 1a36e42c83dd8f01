-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "mediaImageId" TEXT;

-- CreateTable
CREATE TABLE "Volume" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "sizeGb" INTEGER NOT NULL,
    "hostId" TEXT,
    "vmId" TEXT,
    "imageId" TEXT,
    "projectId" TEXT,
    "ownerId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'creating',
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Volume_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Snapshot" (
    "id" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "memory" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL DEFAULT 'creating',
    "claimedDiskGb" INTEGER NOT NULL DEFAULT 0,
    "vmStateBytes" BIGINT NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Snapshot_pkey" PRIMARY KEY ("id")
);

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

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_mediaImageId_fkey" FOREIGN KEY ("mediaImageId") REFERENCES "Image"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Volume" ADD CONSTRAINT "Volume_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Volume" ADD CONSTRAINT "Volume_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Volume" ADD CONSTRAINT "Volume_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Volume" ADD CONSTRAINT "Volume_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

