package dev.lancet.actors.calibration;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.BlockSnapshot;
import dev.lancet.proto.CalibrationProgress;
import dev.lancet.proto.ComputeBatch;
import dev.lancet.proto.LayerActivations;
import dev.lancet.proto.RestoreRequest;
import dev.lancet.proto.SnapshotRequest;
import java.io.NotSerializableException;
import java.util.Map;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Pekko serializer for every actor command: each travels as its Protocol Buffers form
 * ({@link WireMessage#toProto}), named by a manifest; this is the table that reads them back.
 */
public final class ProtoSerializer extends SerializerWithStringManifest {

    @FunctionalInterface
    private interface Reader {
        Object read(byte[] bytes, ActorRefResolver resolver) throws InvalidProtocolBufferException;
    }

    private static final Map<String, Reader> READERS = Map.ofEntries(
            Map.entry("Fold", (b, r) -> LayerActor.Fold.fromProto(LayerActivations.parseFrom(b))),
            Map.entry("Snapshot", (b, r) -> {
                SnapshotRequest m = SnapshotRequest.parseFrom(b);
                return new LayerActor.Snapshot(m.getRound(), m.getLast(), r.resolveActorRef(m.getReplyTo()));
            }),
            Map.entry("Restored", (b, r) -> new LayerActor.Restored(BlockSums.fromProto(BlockSnapshot.parseFrom(b)))),
            Map.entry("BlockState", (b, r) -> new CurvatureActor.BlockState(BlockSums.fromProto(BlockSnapshot.parseFrom(b)))),
            Map.entry("Restore", (b, r) -> {
                RestoreRequest m = RestoreRequest.parseFrom(b);
                return new CurvatureActor.Restore(m.getBlock(), r.resolveActorRef(m.getReplyTo()));
            }),
            Map.entry("Collect", (b, r) -> {
                SnapshotRequest m = SnapshotRequest.parseFrom(b);
                return new CurvatureActor.Collect(m.getRound(), m.getBlocks(), r.resolveActorRef(m.getReplyTo()));
            }),
            Map.entry("Collected", (b, r) -> new CurvatureActor.Collected(BlockSums.fromProto(BlockSnapshot.parseFrom(b)))),
            Map.entry("Compute", (b, r) -> {
                ComputeBatch m = ComputeBatch.parseFrom(b);
                return new GradientWorker.Compute(m.getBatch(), r.resolveActorRef(m.getReplyTo()));
            }),
            Map.entry("Start", (b, r) -> new CalibrationCoordinator.Start(
                    r.resolveActorRef(SnapshotRequest.parseFrom(b).getReplyTo()))),
            Map.entry("Computed", (b, r) -> new CalibrationCoordinator.Computed(BatchComputed.parseFrom(b))),
            Map.entry("Folded", (b, r) -> new CalibrationCoordinator.Folded(BatchFolded.parseFrom(b))),
            Map.entry("Recovered", (b, r) -> new CalibrationCoordinator.Recovered(BlockRecovered.parseFrom(b))),
            Map.entry("CollectDue", (b, r) -> new CalibrationCoordinator.CollectDue()),
            Map.entry("Finished", (b, r) -> new CalibrationCoordinator.Finished(
                    new CurvatureActor.Collected(BlockSums.fromProto(BlockSnapshot.parseFrom(b))))),
            Map.entry("Progress", (b, r) -> new CalibrationCoordinator.Progress(CalibrationProgress.parseFrom(b))));

    private final ExtendedActorSystem system;
    private volatile ActorRefResolver resolver;

    public ProtoSerializer(ExtendedActorSystem system) {
        this.system = system;
    }

    @Override
    public int identifier() {
        return 7311;
    }

    @Override
    public String manifest(Object o) {
        return o.getClass().getSimpleName();
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
