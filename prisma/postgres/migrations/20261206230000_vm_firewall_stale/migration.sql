-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "firewallStale" BOOLEAN NOT NULL DEFAULT false;
