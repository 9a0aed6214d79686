package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.BlockSnapshot;
import dev.lancet.proto.CalibrationProgress;
import dev.lancet.proto.LayerActivations;
import java.io.NotSerializableException;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Every Lancet message is bound to the protobuf serializer and reads back equal. */
class ProtoSerializerTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    @Test
    void everyMessageRoundTrips() throws Exception {
        Serialization serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
        var layer = testKit.<LayerActor.Command>createTestProbe().getRef();
        var curvature = testKit.<CurvatureActor.Command>createTestProbe().getRef();
        var coordinator = testKit.<CalibrationCoordinator.Command>createTestProbe().getRef();
        var collected = testKit.<CurvatureActor.Collected>createTestProbe().getRef();
        BlockSnapshot snapshot = BlockSnapshot.newBuilder().setBlock(2).setRound(5).build();
        List<WireMessage> messages = List.of(
                new LayerActor.Fold(LayerActivations.newBuilder().setBatch(3).setLayer("l").build()),
                new LayerActor.Snapshot(4, curvature),
                new LayerActor.Restored(snapshot),
                new CurvatureActor.BlockState(snapshot),
                new CurvatureActor.Restore(1, layer),
                new CurvatureActor.Collect(7, 2, collected),
                new CurvatureActor.Collected(snapshot),
                new GradientWorker.Compute(9, coordinator),
                new CalibrationCoordinator.Start(collected),
                new CalibrationCoordinator.Computed(BatchComputed.newBuilder().setBatch(1).setLoss(2.5).build()),
                new CalibrationCoordinator.Folded(BatchFolded.newBuilder().setBlock(1).setBatch(2).build()),
                new CalibrationCoordinator.Recovered(BlockRecovered.newBuilder().setBlock(1).addBatches(4).build()),
                new CalibrationCoordinator.CollectDue(),
                new CalibrationCoordinator.Finished(new CurvatureActor.Collected(snapshot)),
                new CalibrationCoordinator.Progress(CalibrationProgress.newBuilder().setBatchesDone(1).build()));
        for (WireMessage message : messages) {
            var serializer = serialization.findSerializerFor(message);
            assertTrue(serializer instanceof ProtoSerializer, message.getClass().getName());
            byte[] bytes = serialization.serialize(message).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message)).get();
            assertEquals(message, back);
        }
    }

    @Test
    void unknownManifestIsRefused() {
        ProtoSerializer serializer = new ProtoSerializer((org.apache.pekko.actor.ExtendedActorSystem) Adapter.toClassic(testKit.system()));
        assertThrows(NotSerializableException.class, () -> serializer.fromBinary(new byte[0], "Nope"));
    }
}
