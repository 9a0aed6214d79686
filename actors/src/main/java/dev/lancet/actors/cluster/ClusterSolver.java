package dev.lancet.actors.cluster;

import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.actors.prune.PruneWorker;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.prune.UnitWeights;
import dev.lancet.jobs.ShotSolver;
import dev.lancet.proto.ShotFiles;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * Solves shots on a cluster: the coordinator runs on this member, one worker entity per unit on the worker members.
 * The workers rebuild the shot from files in the attempt's work directory (the exact curvature sums) and the shot's
 * checkpoint, and leave each unit's corrected weights there, which are copied into the job's model. A worker whose
 * member leaves or dies is restarted elsewhere by sharding and rebuilds its units from the next (resent) question,
 * so the shot ends with the same weights as on one node.
 */
public final class ClusterSolver implements ShotSolver {

    private final ClusterNode node;

    public ClusterSolver(ClusterNode node) {
        this.node = node;
    }

    @Override
    public PruneCoordinator.Solved solve(Shot shot, long target) throws InterruptedException {
        Path factors = shot.work().resolve("factors.safetensors");
        if (shot.curvature() != null) {
            FactorFile.writeSums(factors, shot.curvature());
        }
        Structure structure = shot.settings().structure();
        ShotFiles files = NodeShots.describe(shot.settings()).setKey(UUID.randomUUID().toString())
                .setCheckpoint(shot.checkpoint().toString()).setLayout(shot.model().layout().toProto())
                .setFactors(shot.curvature() == null ? "" : factors.toString()).setResults(shot.work().toString())
                .build();
        int units = ShotUnits.count(shot.model().layout(), structure);
        PruneCoordinator.Workers workers = (context, count) -> IntStream.range(0, count)
                .<RecipientRef<PruneWorker.Command>>mapToObj(u -> node.worker(files.getKey() + "-" + u)).toList();
        var coordinator = node.system().systemActorOf(PruneCoordinator.create(units, workers, files,
                node.resendAfter()), "prune-" + files.getKey(), Props.empty());
        PruneCoordinator.Solved solved;
        try {
            solved = AskPattern.<PruneCoordinator.Command, PruneCoordinator.Solved>ask(coordinator,
                            reply -> new PruneCoordinator.Solve(target, reply), Duration.ofDays(30),
                            node.system().scheduler())
                    .toCompletableFuture().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("pruning failed: " + e.getCause(), e.getCause());
        }
        if (!solved.failed()) {
            for (int u = 0; u < units; u++) {
                UnitWeights.readInto(shot.work().resolve("unit-" + u + ".safetensors"), shot.model(), u, structure);
            }
        }
        return solved;
    }
}
