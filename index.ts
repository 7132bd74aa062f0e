// patroni-ha: read and validate the stack config, declare the cluster, export its endpoints.
import { PatroniCluster } from "./components/cluster";
import { loadSpec } from "./config";
import { clusterOutputs } from "./outputs";

const cluster = new PatroniCluster("cluster", { spec: loadSpec() });
const outputs = clusterOutputs(cluster);

export const writeEndpoint = outputs.writeEndpoint;
export const readEndpoint = outputs.readEndpoint;
export const statsUrl = outputs.statsUrl;
export const statsUser = outputs.statsUser;
export const statsPassword = outputs.statsPassword;
export const patroniApiUrls = outputs.patroniApiUrls;
export const patroniMembers = outputs.patroniMembers;
export const patroniApiUser = outputs.patroniApiUser;
export const patroniApiPassword = outputs.patroniApiPassword;
export const etcdEndpoints = outputs.etcdEndpoints;
export const etcdContainers = outputs.etcdContainers;
export const caCertificate = outputs.caCertificate;
export const caCertificateFile = outputs.caCertificateFile;
export const writeConnectionString = outputs.writeConnectionString;
export const readConnectionString = outputs.readConnectionString;
export const superuserConnectionString = outputs.superuserConnectionString;
export const superuserPassword = outputs.superuserPassword;
export const barmanContainer = outputs.barmanContainer;
export const pitrEndpoint = outputs.pitrEndpoint;
export const metricsUrls = outputs.metricsUrls;
export const prometheusUrl = outputs.prometheusUrl;
export const alertmanagerUrl = outputs.alertmanagerUrl;
