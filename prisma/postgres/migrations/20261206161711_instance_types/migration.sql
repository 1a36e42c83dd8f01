-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "instanceTypeId" TEXT;

-- CreateTable
CREATE TABLE "InstanceType" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "arch" TEXT,
    "description" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "InstanceType_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "InstanceType_name_key" ON "InstanceType"("name");

-- CreateIndex
CREATE INDEX "InstanceType_arch_idx" ON "InstanceType"("arch");

-- CreateIndex
CREATE INDEX "Vm_instanceTypeId_idx" ON "Vm"("instanceTypeId");

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_instanceTypeId_fkey" FOREIGN KEY ("instanceTypeId") REFERENCES "InstanceType"("id") ON DELETE SET NULL ON UPDATE CASCADE;

