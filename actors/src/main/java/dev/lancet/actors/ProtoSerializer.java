package dev.lancet.actors;

import dev.lancet.actors.calibration.BlockSums;
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.calibration.CurvatureActor;
import dev.lancet.actors.calibration.GradientWorker;
import dev.lancet.actors.calibration.LayerActor;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.actors.prune.PruneWorker;
import dev.lancet.daemon.JobQueue;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.ApplyAt;
import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockHandedOver;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.CalibrationProgress;
import dev.lancet.proto.CollectRequest;
import dev.lancet.proto.ComputeBatch;
import dev.lancet.proto.CountAt;
import dev.lancet.proto.Counted;
import dev.lancet.proto.CurvatureCollected;
import dev.lancet.proto.LayerActivations;
import dev.lancet.proto.LayerEntityMessage;
import dev.lancet.proto.OpenUnits;
import dev.lancet.proto.ReleaseUnits;
import dev.lancet.proto.RestoreRequest;
import dev.lancet.proto.ShotSolved;
import dev.lancet.proto.SnapshotRequest;
import dev.lancet.proto.SnapshotRestored;
import dev.lancet.proto.SnapshotTaken;
import dev.lancet.proto.SolveShot;
import dev.lancet.proto.StartCalibration;
import dev.lancet.proto.UnitsApplied;
import dev.lancet.proto.UnitsFailed;
import dev.lancet.proto.UnitsOpened;
import dev.lancet.proto.WakeBlock;
import dev.lancet.proto.daemon.QueueAnswer;
import dev.lancet.proto.daemon.QueueJobCall;
import dev.lancet.proto.daemon.QueueList;
import dev.lancet.proto.daemon.QueueSubmit;
import java.io.NotSerializableException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Pekko serializer for every {@link WireMessage}: each travels as its own Protocol Buffers message
 * ({@link WireMessage#toProto}), named by a manifest of its own. This is the table of manifests and of how to
 * read each message back; a manifest is a fixed string, so renaming a class never changes the wire.
 */
public final class ProtoSerializer extends SerializerWithStringManifest {

    @FunctionalInterface
    private interface Reader {
        WireMessage read(byte[] bytes, ActorRefResolver resolver) throws InvalidProtocolBufferException;
    }

    private record Binding(Class<? extends WireMessage> type, String manifest, Reader reader) {
    }

    private static final List<Binding> BINDINGS = List.of(
            new Binding(LayerActor.Fold.class, "layer.fold",
                    (b, r) -> LayerActor.Fold.fromProto(LayerActivations.parseFrom(b))),
            new Binding(LayerActor.Snapshot.class, "layer.snapshot", (b, r) -> {
                SnapshotRequest m = SnapshotRequest.parseFrom(b);
                return new LayerActor.Snapshot(m.getRound(), m.getLast(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(LayerActor.Wake.class, "layer.wake", (b, r) -> {
                WakeBlock.parseFrom(b);
                return new LayerActor.Wake();
            }),
            // left in its wire form: the entity decodes it once it is restored
            new Binding(LayerActor.ToEntity.class, "layer.to-entity",
                    (b, r) -> new LayerActor.ToEntity(LayerEntityMessage.parseFrom(b))),
            new Binding(LayerActor.Restored.class, "layer.restored", (b, r) ->
                    new LayerActor.Restored(BlockSums.fromProto(SnapshotRestored.parseFrom(b).getSnapshot()))),
            new Binding(CurvatureActor.BlockState.class, "curvature.block-state", (b, r) ->
                    new CurvatureActor.BlockState(BlockSums.fromProto(SnapshotTaken.parseFrom(b).getSnapshot()))),
            new Binding(CurvatureActor.Restore.class, "curvature.restore", (b, r) -> {
                RestoreRequest m = RestoreRequest.parseFrom(b);
                return new CurvatureActor.Restore(m.getBlock(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(CurvatureActor.Collect.class, "curvature.collect", (b, r) -> {
                CollectRequest m = CollectRequest.parseFrom(b);
                return new CurvatureActor.Collect(m.getRound(), m.getBlocks(), m.getBatches(),
                        r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(CurvatureActor.Collected.class, "curvature.collected", (b, r) ->
                    new CurvatureActor.Collected(BlockSums.fromProto(CurvatureCollected.parseFrom(b).getState()))),
            new Binding(GradientWorker.Compute.class, "worker.compute", (b, r) -> {
                ComputeBatch m = ComputeBatch.parseFrom(b);
                return new GradientWorker.Compute(m.getBatch(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(CalibrationCoordinator.Start.class, "coordinator.start", (b, r) ->
                    new CalibrationCoordinator.Start(r.resolveActorRef(StartCalibration.parseFrom(b).getReplyTo()))),
            new Binding(CalibrationCoordinator.Computed.class, "coordinator.computed",
                    (b, r) -> new CalibrationCoordinator.Computed(BatchComputed.parseFrom(b))),
            new Binding(CalibrationCoordinator.Folded.class, "coordinator.folded",
                    (b, r) -> new CalibrationCoordinator.Folded(BatchFolded.parseFrom(b))),
            new Binding(CalibrationCoordinator.Recovered.class, "coordinator.recovered",
                    (b, r) -> new CalibrationCoordinator.Recovered(BlockRecovered.parseFrom(b))),
            new Binding(CalibrationCoordinator.HandedOver.class, "coordinator.handed-over",
                    (b, r) -> new CalibrationCoordinator.HandedOver(BlockHandedOver.parseFrom(b))),
            new Binding(CalibrationCoordinator.Progress.class, "coordinator.progress",
                    (b, r) -> new CalibrationCoordinator.Progress(CalibrationProgress.parseFrom(b))),
            new Binding(PruneCoordinator.Solve.class, "prune.solve", (b, r) -> {
                SolveShot m = SolveShot.parseFrom(b);
                return new PruneCoordinator.Solve(m.getTarget(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(PruneCoordinator.Opened.class, "prune.opened", (b, r) -> {
                return new PruneCoordinator.Opened(UnitsOpened.parseFrom(b).getWorker());
            }),
            new Binding(PruneCoordinator.Counted.class, "prune.counted", (b, r) -> {
                Counted m = Counted.parseFrom(b);
                return new PruneCoordinator.Counted(m.getRound(), m.getWorker(), m.getCount());
            }),
            new Binding(PruneCoordinator.Failed.class, "prune.failed", (b, r) -> {
                UnitsFailed m = UnitsFailed.parseFrom(b);
                return new PruneCoordinator.Failed(m.getWorker(), m.getReason());
            }),
            new Binding(PruneCoordinator.Applied.class, "prune.applied", (b, r) -> {
                UnitsApplied m = UnitsApplied.parseFrom(b);
                return new PruneCoordinator.Applied(m.getWorker(),
                        m.getUnitsList().stream().map(UnitReport::fromProto).toList());
            }),
            new Binding(PruneCoordinator.Solved.class, "prune.solved", (b, r) -> {
                ShotSolved m = ShotSolved.parseFrom(b);
                return new PruneCoordinator.Solved(m.getThreshold(),
                        m.getUnitsList().stream().map(UnitReport::fromProto).toList(), m.getFailure());
            }),
            new Binding(PruneWorker.Open.class, "prune-worker.open", (b, r) -> {
                OpenUnits m = OpenUnits.parseFrom(b);
                return new PruneWorker.Open(PruneWorker.Assignment.fromProto(m.getAssignment()),
                        r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(PruneWorker.Count.class, "prune-worker.count", (b, r) -> {
                CountAt m = CountAt.parseFrom(b);
                return new PruneWorker.Count(m.getRound(), m.getTau(), PruneWorker.Assignment.fromProto(m.getAssignment()),
                        r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(PruneWorker.Apply.class, "prune-worker.apply", (b, r) -> {
                ApplyAt m = ApplyAt.parseFrom(b);
                return new PruneWorker.Apply(m.getTau(), PruneWorker.Assignment.fromProto(m.getAssignment()),
                        r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(PruneWorker.Release.class, "prune-worker.release", (b, r) -> new PruneWorker.Release(
                    PruneWorker.Assignment.fromProto(ReleaseUnits.parseFrom(b).getAssignment()))),
            new Binding(JobQueue.Submit.class, "job-queue.submit", (b, r) -> {
                QueueSubmit m = QueueSubmit.parseFrom(b);
                return new JobQueue.Submit(m.getJob(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(JobQueue.Get.class, "job-queue.get", (b, r) -> {
                QueueJobCall m = QueueJobCall.parseFrom(b);
                return new JobQueue.Get(m.getJob(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(JobQueue.Cancel.class, "job-queue.cancel", (b, r) -> {
                QueueJobCall m = QueueJobCall.parseFrom(b);
                return new JobQueue.Cancel(m.getJob(), r.resolveActorRef(m.getReplyTo()));
            }),
            new Binding(JobQueue.ListJobs.class, "job-queue.list", (b, r) ->
                    new JobQueue.ListJobs(r.resolveActorRef(QueueList.parseFrom(b).getReplyTo()))),
            new Binding(JobQueue.Answer.class, "job-queue.answer", (b, r) -> new JobQueue.Answer(QueueAnswer.parseFrom(b))));

    private static final Map<Class<? extends WireMessage>, String> MANIFESTS = new HashMap<>();
    private static final Map<String, Reader> READERS = new HashMap<>();

    static {
        for (Binding binding : BINDINGS) {
            if (READERS.put(binding.manifest(), binding.reader()) != null
                    || MANIFESTS.put(binding.type(), binding.manifest()) != null) {
                throw new IllegalStateException("two wire bindings for " + binding.manifest() + " / " + binding.type());
            }
        }
    }

    private final ExtendedActorSystem system;
    private volatile ActorRefResolver resolver;

    public ProtoSerializer(ExtendedActorSystem system) {
        this.system = system;
    }

    /** Every wire message class with its manifest. */
    static Map<Class<? extends WireMessage>, String> manifests() {
        return Map.copyOf(MANIFESTS);
    }

    @Override
    public int identifier() {
        return 7311;
    }

    @Override
    public String manifest(Object o) {
        String manifest = MANIFESTS.get(o.getClass());
        if (manifest == null) {
            throw new IllegalArgumentException("no wire binding for " + o.getClass().getName());
        }
        return manifest;
    }

    @Override
    public byte[] toBinary(Object o) {
        return ((WireMessage) o).toProto(resolver()).toByteArray();
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        Reader reader = READERS.get(manifest);
        if (reader == null) {
            throw new NotSerializableException("unknown Lancet message '" + manifest + "'");
        }
        try {
            return reader.read(bytes, resolver());
        } catch (InvalidProtocolBufferException e) {
            throw new NotSerializableException("corrupt " + manifest + ": " + e.getMessage());
        }
    }

    private ActorRefResolver resolver() {
        if (resolver == null) {
            resolver = ActorRefResolver.get(Adapter.toTyped(system));
        }
        return resolver;
    }
}
