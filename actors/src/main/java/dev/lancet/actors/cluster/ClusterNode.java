package dev.lancet.actors.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.lancet.actors.calibration.LayerActor;
import dev.lancet.actors.prune.PruneWorker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * One member of a Lancet cluster: an actor system named {@value #SYSTEM} with the cluster provider, whose calibration
 * layer actors and prune workers are Cluster Sharding entities living on the members with the {@value #WORKER_ROLE}
 * role. Every member starts sharding, so a member without the role (a job's coordinator) reaches the entities through
 * a proxy. Layer actors learn their run from each message and restore from the coordinator's curvature actor; workers
 * rebuild their units from files (checkpoint, layout, curvature sums) that every member must see at the same path.
 */
public final class ClusterNode implements AutoCloseable {

    public static final String SYSTEM = "lancet";
    public static final String WORKER_ROLE = "worker";
    public static final String COORDINATOR_ROLE = "coordinator";
    static final EntityTypeKey<PruneWorker.Command> WORKERS = EntityTypeKey.create(PruneWorker.Command.class,
            "lancet-prune-worker");
    /** The (a, g) a calibration block receives are large messages: conf/cluster.conf routes them to this path. */
    static final EntityTypeKey<LayerActor.Command> LAYERS = EntityTypeKey.create(LayerActor.Command.class,
            "lancet-calibration-layer");

    private final ActorSystem<Void> system;
    private final ClusterSharding sharding;
    private final NodeShots shots = new NodeShots();
    private final AtomicInteger layersStarted = new AtomicInteger();

    private ClusterNode(Config config) {
        this.system = ActorSystem.create(Behaviors.empty(), SYSTEM, config);
        this.sharding = ClusterSharding.get(system);
        sharding.init(Entity.of(WORKERS, entity -> PruneWorker.create(shots)).withRole(WORKER_ROLE)
                .withEntityProps(DispatcherSelector.fromConfig("lancet.cluster.worker-dispatcher")));
        sharding.init(Entity.of(LAYERS, entity -> {
            layersStarted.incrementAndGet();
            return LayerActor.entity();
        }).withRole(WORKER_ROLE).withEntityProps(DispatcherSelector.fromConfig("lancet.cluster.worker-dispatcher")));
    }

    /**
     * The configuration of a member: {@code file} (e.g. conf/cluster.conf: seed nodes, downing, timeouts) over the
     * application's defaults, with this member's roles, and its port (0: any free one) and seed nodes unless null or
     * empty (then the file's).
     */
    public static Config config(Path file, Integer port, List<String> roles, List<String> seeds) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("cluster configuration " + file + " does not exist");
        }
        Config member = ConfigFactory.empty().withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(roles));
        if (port != null) {
            member = member.withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port));
        }
        if (!seeds.isEmpty()) {
            member = member.withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds));
        }
        try {
            return member.withFallback(ConfigFactory.parseFile(file.toFile())).withFallback(ConfigFactory.load())
                    .resolve();
        } catch (ConfigException e) {
            throw new IllegalArgumentException("cluster configuration " + file + ": " + e.getMessage());
        }
    }

    /** Starts a member and joins the cluster through its seed nodes. */
    public static ClusterNode start(Config config) {
        return new ClusterNode(config);
    }

    public ActorSystem<Void> system() {
        return system;
    }

    /** The worker entity {@code id}, wherever the cluster keeps it. */
    public EntityRef<PruneWorker.Command> worker(String id) {
        return sharding.entityRefFor(WORKERS, id);
    }

    /** The calibration layer entity {@code id} (a run's block), wherever the cluster keeps it. */
    public EntityRef<LayerActor.Command> layer(String id) {
        return sharding.entityRefFor(LAYERS, id);
    }

    /** Calibration layer entities started on this member so far (again after a restart or a move). */
    public int layerEntitiesStarted() {
        return layersStarted.get();
    }

    /**
     * How long a coordinator (of a shot, or of a calibration run) waits for answers before asking again
     * (lancet.cluster.resend-after).
     */
    public Duration resendAfter() {
        return system.settings().config().getDuration("lancet.cluster.resend-after");
    }

    /** This member's address, pekko://lancet@HOST:PORT. */
    public String address() {
        return Cluster.get(system).selfMember().address().toString();
    }

    /** Waits until this member is up in the cluster; false if {@code timeout} passed. */
    public boolean awaitUp(Duration timeout) throws InterruptedException {
        return await(timeout, () -> Cluster.get(system).selfMember().status() == MemberStatus.up());
    }

    /** Waits until at least {@code count} members with the worker role are up; false if {@code timeout} passed. */
    public boolean awaitWorkers(int count, Duration timeout) throws InterruptedException {
        return await(timeout, () -> workersUp() >= count);
    }

    private static boolean await(Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(100);
        }
        return true;
    }

    /** Members with the worker role that are up. */
    public long workersUp() {
        return StreamSupport.stream(Cluster.get(system).state().getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up() && m.hasRole(WORKER_ROLE)).count();
    }

    /** Leaves the cluster (its shards move to the other workers) and frees what its workers held. */
    @Override
    public void close() {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
        shots.close();
    }
}
