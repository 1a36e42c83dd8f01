-- CreateTable
CREATE TABLE "NotificationState" (
    "userId" TEXT NOT NULL,
    "failedSeenUpTo" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "NotificationState_pkey" PRIMARY KEY ("userId")
);

-- CreateIndex
CREATE INDEX "Task_status_finishedAt_idx" ON "Task"("status", "finishedAt");

-- AddForeignKey
ALTER TABLE "NotificationState" ADD CONSTRAINT "NotificationState_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"("id") ON DELETE CASCADE ON UPDATE CASCADE;

