// Open vSwitch: the bridge, VM taps and their VLAN tags.
export {
  assertIfName,
  createTap,
  deleteTap,
  netDeviceExists,
  Ovs,
  OvsError,
  OvsNetwork,
  tapName,
  type NicLike,
  type OvsOptions,
} from "./ovs";
