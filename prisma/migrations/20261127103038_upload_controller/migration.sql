-- AlterTable
ALTER TABLE "Image" ADD COLUMN "uploadControllerId" TEXT;

