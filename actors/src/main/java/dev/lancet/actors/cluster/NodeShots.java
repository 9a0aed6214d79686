package dev.lancet.actors.cluster;

import dev.lancet.actors.prune.PruneWorker;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.Damping;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.engine.prune.UnitWeights;
import dev.lancet.proto.ShotFiles;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A worker node's copy of each shot its entities work on: the model rebuilt from (checkpoint, layout) and the exact
 * curvature sums, loaded once per node and freed when the node's last unit of the shot is closed. A unit applied
 * here writes its weights to the shot's results directory for the coordinator, and remembers its report: this
 * node's model copy holds that unit corrected, so a worker entity restarted here answers from the report instead
 * of pricing corrected weights again.
 */
public final class NodeShots implements PruneWorker.UnitSource, AutoCloseable {

    /** One shot on this node. Its units' layers are disjoint, so workers apply them side by side. */
    private static final class Loaded {
        final ShotFiles files;
        final Transformer model;
        final KfacState curvature;
        final PruneSettings settings;
        final Map<Integer, UnitReport> applied = new HashMap<>();
        int users;

        Loaded(ShotFiles files) {
            this.files = files;
            this.settings = settings(files);
            try (Checkpoint checkpoint = Checkpoint.open(Path.of(files.getCheckpoint()))) {
                this.model = Transformer.load(checkpoint, ModelLayout.fromProto(files.getLayout()), DataType.FLOAT);
            }
            try {
                this.curvature = files.getFactors().isEmpty() ? null : FactorFile.read(Path.of(files.getFactors()));
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        }

        void close() {
            model.close();
            if (curvature != null) {
                curvature.close();
            }
        }
    }

    private final Map<String, Loaded> shots = new HashMap<>();

    /** How a shot prices, in the form its files carry. */
    public static ShotFiles.Builder describe(PruneSettings settings) {
        return ShotFiles.newBuilder().setMethod(settings.method().name()).setStructure(settings.structure().name())
                .setDampingG(settings.damping().g()).setDampingA(settings.damping().a())
                .setMaxCorrelate(settings.maxCorrelate());
    }

    static PruneSettings settings(ShotFiles files) {
        return new PruneSettings(PruneMethod.valueOf(files.getMethod()), Structure.valueOf(files.getStructure()),
                new Damping(files.getDampingG(), files.getDampingA()), files.getMaxCorrelate());
    }

    @Override
    public PruneUnit open(ShotFiles files, int unit) {
        Loaded shot = acquire(files);
        try {
            boolean applied;
            synchronized (this) {
                applied = shot.applied.containsKey(unit);
            }
            // pricing runs outside the lock: the node's workers open their units side by side
            return new NodeUnit(shot, unit, applied ? null : ShotUnits.open(unit, shot.model, shot.curvature,
                    shot.settings));
        } catch (RuntimeException e) {
            release(shot);
            throw e;
        }
    }

    private synchronized Loaded acquire(ShotFiles files) {
        Loaded shot = shots.get(files.getKey());
        if (shot == null) {
            shot = new Loaded(files);
            shots.put(files.getKey(), shot);
        }
        shot.users++;
        return shot;
    }

    private synchronized void release(Loaded shot) {
        if (--shot.users == 0) {
            shots.remove(shot.files.getKey());
            shot.close();
            // as after a shot in the job's JVM (PruneJob): glibc would keep the freed pages in the threads' arenas
            Pointer.trimMemory();
        }
    }

    /** Frees every shot still loaded (the node is shutting down; its workers are stopped). */
    @Override
    public synchronized void close() {
        shots.values().forEach(Loaded::close);
        shots.clear();
    }

    /** A unit of a shot on this node: priced from the node's copy, or already applied here (then only its report). */
    private final class NodeUnit implements PruneUnit {
        private final Loaded shot;
        private final int unit;
        private final PruneUnit fresh;

        NodeUnit(Loaded shot, int unit, PruneUnit fresh) {
            this.shot = shot;
            this.unit = unit;
            this.fresh = fresh;
        }

        @Override
        public long count(double tau) {
            if (fresh == null) {
                throw new IllegalStateException("unit " + unit + " was already applied on this node");
            }
            return fresh.count(tau);
        }

        @Override
        public UnitReport apply(double tau) {
            UnitReport done;
            synchronized (NodeShots.this) {
                done = shot.applied.get(unit);
            }
            if (done != null) {
                return done;
            }
            UnitReport report = fresh.apply(tau);
            UnitWeights.write(Path.of(shot.files.getResults()).resolve("unit-" + unit + ".safetensors"), shot.model,
                    unit, shot.settings.structure());
            synchronized (NodeShots.this) {
                shot.applied.put(unit, report);
            }
            return report;
        }

        @Override
        public void close() {
            if (fresh != null) {
                fresh.close();
            }
            release(shot);
        }
    }
}
