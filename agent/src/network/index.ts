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
export {
  PORT_SECURITY_ALLOW_PRIORITY,
  PORT_SECURITY_DROP_PRIORITY,
  portSecurityCookie,
  portSecurityFlows,
  type PortAddress,
} from "./port-security";
export { baseFlows, firewallCookie, firewallFlows, portRangeMasks, type FirewalledPort } from "./firewall";
export { applyPortFirewall, recordedFirewall, removePortFirewall } from "./ovs-firewall";
export { DhcpService, type DhcpServiceOptions, type DhcpSwitch } from "./dhcp";
export {
  dhcpClientFlows,
  dhcpNames,
  dnsmasqArgs,
  renderHostsfile,
  validateDhcpNic,
  type DhcpNames,
  type DhcpNic,
  type DhcpSubnet,
} from "./dhcp-config";
export { GatewayNamespaces, type GatewayNamespacesOptions, type NamespaceHolder } from "./router-netns";
export { RouterService, type ExternalNetwork, type RouterServiceOptions } from "./router";
export {
  NAT_TABLE,
  renderRuleset,
  routerNames,
  uplinkAddresses,
  validateRouterSpec,
  type RouterNames,
} from "./router-config";
