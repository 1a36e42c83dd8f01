-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "strayRoutersSince" TIMESTAMP(3);

