-- CreateTable
CREATE TABLE "SecurityGroup" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "projectId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SecurityGroup_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SecurityGroupRule" (
    "id" TEXT NOT NULL,
    "groupId" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "protocol" TEXT NOT NULL,
    "portMin" INTEGER,
    "portMax" INTEGER,
    "remoteCidr" TEXT,
    "remoteGroupId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SecurityGroupRule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VmSecurityGroup" (
    "vmId" TEXT NOT NULL,
    "groupId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VmSecurityGroup_pkey" PRIMARY KEY ("vmId","groupId")
);

-- CreateIndex
CREATE UNIQUE INDEX "SecurityGroup_projectId_name_key" ON "SecurityGroup"("projectId", "name");

-- CreateIndex
CREATE INDEX "SecurityGroupRule_groupId_idx" ON "SecurityGroupRule"("groupId");

-- CreateIndex
CREATE INDEX "SecurityGroupRule_remoteGroupId_idx" ON "SecurityGroupRule"("remoteGroupId");

-- CreateIndex
CREATE INDEX "VmSecurityGroup_groupId_idx" ON "VmSecurityGroup"("groupId");

-- AddForeignKey
ALTER TABLE "SecurityGroup" ADD CONSTRAINT "SecurityGroup_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SecurityGroupRule" ADD CONSTRAINT "SecurityGroupRule_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "SecurityGroup"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SecurityGroupRule" ADD CONSTRAINT "SecurityGroupRule_remoteGroupId_fkey" FOREIGN KEY ("remoteGroupId") REFERENCES "SecurityGroup"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VmSecurityGroup" ADD CONSTRAINT "VmSecurityGroup_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VmSecurityGroup" ADD CONSTRAINT "VmSecurityGroup_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "SecurityGroup"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

