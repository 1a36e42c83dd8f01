-- CreateTable
CREATE TABLE "NotificationState" (
    "userId" TEXT NOT NULL PRIMARY KEY,
    "failedSeenUpTo" DATETIME NOT NULL,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "NotificationState_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "Task_status_finishedAt_idx" ON "Task"("status", "finishedAt");

