package dev.lancet.cli;

import dev.lancet.actors.cluster.ClusterNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code lancet node}: a worker member of a Lancet cluster, until SIGTERM. */
@Command(name = "node", mixinStandardHelpOptions = true,
        description = "Run a worker member of a Lancet cluster: it joins through the seed nodes and hosts prune "
                + "workers (Cluster Sharding entities) for jobs started with `lancet prune --cluster`. Every member must "
                + "see the models and output directories at the same paths. Prints one line once it is up; leaves the "
                + "cluster cleanly on SIGTERM (its workers move to the other members).")
final class NodeCommand implements Callable<Integer> {

    /** How long a member waits to be let in by the seed nodes. */
    private static final Duration JOIN_TIMEOUT = Duration.ofMinutes(2);

    @Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() throws Exception {
        if (!cluster.enabled()) {
            cluster.file = Defaults.home().resolve("conf/cluster.conf");
        }
        ClusterNode node = cluster.start(ClusterNode.WORKER_ROLE, null);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            node.close();
            stopped.countDown();
        }, "lancet-node-stop"));
        if (!node.awaitUp(JOIN_TIMEOUT)) {
            System.err.println("lancet: no seed node let this member in within " + JOIN_TIMEOUT.toSeconds()
                    + " s (is the first seed node running?)");
            node.close();
            return 1;
        }
        System.out.println("lancet node ready: " + node.address() + " (" + ClusterNode.WORKER_ROLE + ")");
        System.out.flush();
        node.system().getWhenTerminated().toCompletableFuture().join();
        stopped.await();
        return 0;
    }
}
