-- AlterTable
ALTER TABLE "Vm" ADD COLUMN "loginPasswordHash" TEXT;
ALTER TABLE "Vm" ADD COLUMN "loginSshKey" TEXT;

