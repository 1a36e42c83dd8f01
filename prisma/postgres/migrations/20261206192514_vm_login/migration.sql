-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "loginPasswordHash" TEXT,
ADD COLUMN     "loginSshKey" TEXT;

