import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import {
  CLUSTER_ROLES, DEV_CLUSTER_PORTS, clusterNodeConfig, provisionArgs, provisionSucceeded, type ClusterLayout,
} from "../../reconciler/restate/cluster-config.ts";

const layout: ClusterLayout = {
  clusterName: "test",
  host: "127.0.0.1",
  nodes: DEV_CLUSTER_PORTS,
  replication: 2,
  partitions: 4,
  rocksdbTotalMemory: "256 MiB",
};

describe("cluster node config", () => {
  it("the dev ports step by 100 per node", () => {
    expect(DEV_CLUSTER_PORTS).toEqual([
      { ingress: 8080, admin: 9070, node: 5122 },
      { ingress: 8180, admin: 9170, node: 5222 },
      { ingress: 8280, admin: 9270, node: 5322 },
    ]);
  });

  it("each node has its own name and addresses, and knows every node's fabric address", () => {
    const configs = [0, 1, 2].map((i) => parse(clusterNodeConfig(layout, i, `/data/n${i + 1}`)) as Record<string, any>);
    expect(configs.map((c) => c["node-name"])).toEqual(["n1", "n2", "n3"]);
    const second = configs[1]!;
    expect(second).toMatchObject({
      "cluster-name": "test",
      roles: [...CLUSTER_ROLES],
      "auto-provision": false,
      "default-replication": 2,
      "default-num-partitions": 4,
      "base-dir": "/data/n2",
      "listen-mode": "tcp",
      "bind-address": "127.0.0.1:5222",
      "advertised-address": "http://127.0.0.1:5222/",
      "rocksdb-total-memory-size": "256 MiB",
      bifrost: { "default-provider": "replicated" },
      admin: { "bind-address": "127.0.0.1:9170", "advertised-admin-endpoint": "http://127.0.0.1:9170/" },
      ingress: { "bind-address": "127.0.0.1:8180", "advertised-ingress-endpoint": "http://127.0.0.1:8180/" },
    });
    for (const c of configs) {
      expect(c["metadata-client"].addresses).toEqual(["http://127.0.0.1:5122/", "http://127.0.0.1:5222/", "http://127.0.0.1:5322/"]);
      expect(c.worker).toBeUndefined();
    }
  });

  it("the request-identity key and the snapshot destination are the same on every node", () => {
    const withKey = { ...layout, requestIdentityKeyFile: "/keys/private.pem", snapshotsDestination: "s3://bucket/snaps" };
    for (const i of [0, 1, 2]) {
      const c = parse(clusterNodeConfig(withKey, i, "/d")) as Record<string, any>;
      expect(c.worker.invoker["request-identity-private-key-pem-file"]).toBe("/keys/private.pem");
      expect(c.worker.snapshots.destination).toBe("s3://bucket/snaps");
    }
  });

  it("an IPv6 host is bracketed in addresses", () => {
    const c = parse(clusterNodeConfig({ ...layout, host: "::1" }, 0, "/d")) as Record<string, any>;
    expect(c["bind-address"]).toBe("[::1]:5122");
    expect(c["advertised-address"]).toBe("http://[::1]:5122/");
  });

  it("a node index outside the cluster is refused", () => {
    expect(() => clusterNodeConfig(layout, 3, "/d")).toThrow(/no node 3/);
  });
});

describe("provisioning", () => {
  it("restatectl provisions a replicated log through the first node", () => {
    expect(provisionArgs(layout)).toEqual([
      "--address", "http://127.0.0.1:5122/", "provision", "--log-provider", "replicated", "--replication", "2", "--num-partitions", "4", "--yes",
    ]);
  });

  it("success is read from what restatectl prints (it exits 0 on failure too)", () => {
    expect(provisionSucceeded("✅ Cluster has been successfully provisioned.")).toBe(true);
    expect(provisionSucceeded("🤷 Cluster has been provisioned by somebody else.")).toBe(true);
    expect(provisionSucceeded("")).toBe(false);
  });
});
