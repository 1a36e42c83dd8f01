-- CreateTable
CREATE TABLE "ExternalNetwork" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "cidr" TEXT NOT NULL,
    "gateway" TEXT,
    "poolStart" TEXT NOT NULL,
    "poolEnd" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Router" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "networkId" TEXT NOT NULL,
    "externalNetworkId" TEXT NOT NULL,
    "snat" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Router_networkId_fkey" FOREIGN KEY ("networkId") REFERENCES "Network" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Router_externalNetworkId_fkey" FOREIGN KEY ("externalNetworkId") REFERENCES "ExternalNetwork" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "RouterPort" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "routerId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "externalNetworkId" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "appliedSpec" TEXT,
    "appliedAt" DATETIME,
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "RouterPort_routerId_fkey" FOREIGN KEY ("routerId") REFERENCES "Router" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "RouterPort_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "RouterPort_externalNetworkId_fkey" FOREIGN KEY ("externalNetworkId") REFERENCES "ExternalNetwork" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "FloatingIp" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "externalNetworkId" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "nicId" TEXT,
    "description" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "FloatingIp_externalNetworkId_fkey" FOREIGN KEY ("externalNetworkId") REFERENCES "ExternalNetwork" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "FloatingIp_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "FloatingIp_nicId_fkey" FOREIGN KEY ("nicId") REFERENCES "Nic" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "ExternalNetwork_name_key" ON "ExternalNetwork"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Router_networkId_key" ON "Router"("networkId");

-- CreateIndex
CREATE INDEX "Router_externalNetworkId_idx" ON "Router"("externalNetworkId");

-- CreateIndex
CREATE INDEX "RouterPort_hostId_idx" ON "RouterPort"("hostId");

-- CreateIndex
CREATE UNIQUE INDEX "RouterPort_routerId_hostId_key" ON "RouterPort"("routerId", "hostId");

-- CreateIndex
CREATE UNIQUE INDEX "RouterPort_externalNetworkId_address_key" ON "RouterPort"("externalNetworkId", "address");

-- CreateIndex
CREATE UNIQUE INDEX "FloatingIp_nicId_key" ON "FloatingIp"("nicId");

-- CreateIndex
CREATE INDEX "FloatingIp_projectId_idx" ON "FloatingIp"("projectId");

-- CreateIndex
CREATE UNIQUE INDEX "FloatingIp_externalNetworkId_address_key" ON "FloatingIp"("externalNetworkId", "address");

