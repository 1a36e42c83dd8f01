// The local-storage caveat of high availability (ADR 036), said wherever HA is offered: the VM page
// (vm-ha.tsx) and the wizard. Its own module so the wizard does not pull in the VM page's HA switch.
export const HA_CAVEAT =
  "When its host dies, the VM restarts from its image on another host once the dead host is fenced; " +
  "data on the dead host's disk is not carried.";
