package dev.lancet.actors.cluster;

import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.actors.prune.PruneWorker;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.prune.UnitWeights;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.jobs.Calibration;
import dev.lancet.jobs.JobProgress;
import dev.lancet.jobs.ShotSolver;
import dev.lancet.proto.ShotFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.RecipientRef;

/**
 * Runs shots on a cluster. Calibration: the gradient workers and the curvature actor run on this member, one layer
 * entity per block on the worker members, fed over the wire; a layer entity whose member dies is restarted elsewhere
 * by the coordinator's next message (it wakes the blocks that owe answers) and restores from the curvature actor's
 * last snapshot, and the batches it lost are replayed. Solve: the coordinator runs on this member, one worker entity
 * per unit on the worker members.
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
    public KfacState calibrate(Transformer model, CalibrationSource source, CalibrationCoordinator.Settings settings,
                               JobProgress progress) throws InterruptedException {
        ShardedLayers.checkFits(model.layout(), (long) settings.batchSize() * source.seq(), model.dtype().width(),
                node.system().settings().config().getBytes("pekko.remote.artery.advanced.maximum-large-frame-size"));
        return Calibration.run(node.system(), new ShardedLayers(node), model, source, settings, progress);
    }

    @Override
    public PruneCoordinator.Solved solve(Shot shot, long target) throws InterruptedException {
        try {
            Files.createDirectories(shot.work());
            try {
                return solveIn(shot, target);
            } finally {
                AtomicFiles.deleteTree(shot.work());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The shot with its files in its (existing) work directory. */
    private PruneCoordinator.Solved solveIn(Shot shot, long target) throws InterruptedException {
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
        PruneCoordinator.Solved solved = PruneCoordinator.solve(coordinator, target, node.system().scheduler());
        if (!solved.failed()) {
            for (int u = 0; u < units; u++) {
                UnitWeights.readInto(shot.work().resolve("unit-" + u + ".safetensors"), shot.model(), u, structure);
            }
        }
        return solved;
    }
}
