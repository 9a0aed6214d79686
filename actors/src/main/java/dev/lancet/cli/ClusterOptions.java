package dev.lancet.cli;

import dev.lancet.actors.cluster.ClusterNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** How a process joins a Lancet cluster: shared by {@code lancet node} and {@code lancet prune --cluster}. */
final class ClusterOptions {

    @Option(names = "--cluster", paramLabel = "FILE", description = "Cluster configuration: seed nodes, "
            + "downing, timeouts (`lancet node` defaults to conf/cluster.conf; `lancet prune` runs on a cluster only "
            + "when given one).")
    Path file;

    @Option(names = "--cluster-port", paramLabel = "PORT", description = "Port this member listens on (default: the "
            + "file's for `lancet node`, any free one for `lancet prune`).")
    Integer port;

    @Option(names = "--seed-node", paramLabel = "ADDRESS", description = "A member to join through, as "
            + "pekko://lancet@HOST:PORT; repeatable (default: the file's seed-nodes).")
    List<String> seeds = new ArrayList<>();

    boolean enabled() {
        return file != null;
    }

    /** Starts this process's member with {@code role}, on {@code defaultPort} unless --cluster-port is given. */
    ClusterNode start(String role, Integer defaultPort) {
        for (String seed : seeds) {
            if (!seed.startsWith("pekko://" + ClusterNode.SYSTEM + "@")) {
                throw new IllegalArgumentException("--seed-node must be pekko://" + ClusterNode.SYSTEM + "@HOST:PORT, got "
                        + seed);
            }
        }
        if (port != null && (port < 0 || port > 65535)) {
            throw new IllegalArgumentException("--cluster-port must be 0..65535, got " + port);
        }
        return ClusterNode.start(ClusterNode.config(file, port != null ? port : defaultPort, List.of(role), seeds));
    }
}
