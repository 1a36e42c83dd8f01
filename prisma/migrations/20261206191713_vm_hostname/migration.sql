-- AlterTable
ALTER TABLE "Vm" ADD COLUMN "hostname" TEXT;

