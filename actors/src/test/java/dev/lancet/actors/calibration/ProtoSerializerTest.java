package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.CalibrationProgress;
import java.io.NotSerializableException;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import dev.lancet.engine.curvature.KfacFactor;
import java.util.List;
import java.util.TreeSet;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.nd4j.linalg.factory.Nd4j;
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
        KfacFactor factor = KfacFactor.fromSums("l", true, Nd4j.createFromArray(new double[][] {{2, 1}, {1, 3}}),
                Nd4j.createFromArray(new double[][] {{4}}), 6);
        BlockSums sums = new BlockSums(2, 5, List.of(new LayerSums(factor, new TreeSet<>(List.of(1L, 3L)))));
        List<WireMessage> messages = List.of(
                new LayerActor.Fold(3, "l", Nd4j.createFromArray(new float[][] {{1, 2}}), Nd4j.createFromArray(new float[][] {{-1}})),
                new LayerActor.Snapshot(4, true, curvature),
                new LayerActor.Restored(sums),
                new CurvatureActor.BlockState(sums),
                new CurvatureActor.Restore(1, layer),
                new CurvatureActor.Collect(7, 2, collected),
                new CurvatureActor.Collected(sums),
                new GradientWorker.Compute(9, coordinator),
                new CalibrationCoordinator.Start(collected),
                new CalibrationCoordinator.Computed(BatchComputed.newBuilder().setBatch(1).setLoss(2.5).build()),
                new CalibrationCoordinator.Folded(BatchFolded.newBuilder().setBlock(1).setBatch(2).build()),
                new CalibrationCoordinator.Recovered(BlockRecovered.newBuilder().setBlock(1).addBatches(4).build()),
                new CalibrationCoordinator.CollectDue(),
                new CalibrationCoordinator.Finished(new CurvatureActor.Collected(sums)),
                new CalibrationCoordinator.Progress(CalibrationProgress.newBuilder().setBatchesDone(1).build()));
        ActorRefResolver resolver = ActorRefResolver.get(testKit.system());
        for (WireMessage message : messages) {
            var serializer = serialization.findSerializerFor(message);
            assertTrue(serializer instanceof ProtoSerializer, message.getClass().getName());
            byte[] bytes = serialization.serialize(message).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message)).get();
            assertEquals(message.getClass(), back.getClass());
            // the wire form carries everything: reading it back and writing it again gives the same message
            assertEquals(message.toProto(resolver), ((WireMessage) back).toProto(resolver), message.getClass().getName());
        }
    }

    @Test
    void unknownManifestIsRefused() {
        ProtoSerializer serializer = new ProtoSerializer((org.apache.pekko.actor.ExtendedActorSystem) Adapter.toClassic(testKit.system()));
        assertThrows(NotSerializableException.class, () -> serializer.fromBinary(new byte[0], "Nope"));
    }
}
