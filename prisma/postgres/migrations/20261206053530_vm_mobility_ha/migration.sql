-- AlterTable
ALTER TABLE "Task" ADD COLUMN     "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "progress" INTEGER,
ADD COLUMN     "result" TEXT;

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "cpuModel" TEXT,
ADD COLUMN     "generation" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "ha" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "machineType" TEXT,
ADD COLUMN     "migratingToHostId" TEXT;

