-- AlterTable
ALTER TABLE "Host" ADD COLUMN "strayRoutersSince" DATETIME;

