-- CreateTable
CREATE TABLE "SecurityGroup" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "projectId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "SecurityGroup_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "SecurityGroupRule" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "groupId" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "protocol" TEXT NOT NULL,
    "portMin" INTEGER,
    "portMax" INTEGER,
    "remoteCidr" TEXT,
    "remoteGroupId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "SecurityGroupRule_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "SecurityGroup" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "SecurityGroupRule_remoteGroupId_fkey" FOREIGN KEY ("remoteGroupId") REFERENCES "SecurityGroup" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "VmSecurityGroup" (
    "vmId" TEXT NOT NULL,
    "groupId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("vmId", "groupId"),
    CONSTRAINT "VmSecurityGroup_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "VmSecurityGroup_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "SecurityGroup" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "SecurityGroup_projectId_name_key" ON "SecurityGroup"("projectId", "name");

-- CreateIndex
CREATE INDEX "SecurityGroupRule_groupId_idx" ON "SecurityGroupRule"("groupId");

-- CreateIndex
CREATE INDEX "SecurityGroupRule_remoteGroupId_idx" ON "SecurityGroupRule"("remoteGroupId");

-- CreateIndex
CREATE INDEX "VmSecurityGroup_groupId_idx" ON "VmSecurityGroup"("groupId");

