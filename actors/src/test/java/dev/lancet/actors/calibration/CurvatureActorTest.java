package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.proto.BlockSnapshot;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class CurvatureActorTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    private static BlockSnapshot block(int block, long round, String layer, double value, long tokens) {
        KfacFactor f = KfacFactor.fromSums(layer, false, Nd4j.eye(2).castTo(DataType.DOUBLE).muli(value),
                Nd4j.eye(3).castTo(DataType.DOUBLE).muli(value), tokens);
        return BlockSnapshot.newBuilder().setBlock(block).setRound(round).addFactors(TensorBlocks.toProto(f, List.of()))
                .build();
    }

    @Test
    void collectsOnceEveryBlockReportedTheRoundAndAddsTheBase() {
        KfacState base = new KfacState();
        base.put(KfacFactor.fromSums("b", false, Nd4j.eye(2).castTo(DataType.DOUBLE),
                Nd4j.eye(3).castTo(DataType.DOUBLE), 1));
        base.put(KfacFactor.fromSums("a", false, Nd4j.eye(2).castTo(DataType.DOUBLE),
                Nd4j.eye(3).castTo(DataType.DOUBLE), 1));
        ActorRef<CurvatureActor.Command> curvature = testKit.spawn(CurvatureActor.create(SnapshotStore.inMemory(), base));
        TestProbe<CurvatureActor.Collected> probe = testKit.createTestProbe();
        curvature.tell(new CurvatureActor.BlockState(block(0, 1, "a", 2, 4)));
        curvature.tell(new CurvatureActor.Collect(2, 2, probe.getRef()));
        curvature.tell(new CurvatureActor.BlockState(block(1, 2, "b", 3, 4)));
        probe.expectNoMessage(Duration.ofMillis(200)); // block 0 is still at round 1
        curvature.tell(new CurvatureActor.BlockState(block(0, 2, "a", 5, 4)));
        KfacState state = probe.expectMessageClass(CurvatureActor.Collected.class).toState();
        assertEquals(5, state.get("a").tokens());
        assertEquals(6.0, state.get("a").sumA().getDouble(0, 0), 0);
        assertEquals(4.0, state.get("b").sumG().getDouble(2, 2), 0);
    }

    @Test
    void restoresLayerActorsFromTheStoreEvenAfterItsOwnRestart() {
        SnapshotStore store = SnapshotStore.inMemory();
        ActorRef<CurvatureActor.Command> curvature = testKit.spawn(CurvatureActor.create(store, null));
        curvature.tell(new CurvatureActor.BlockState(block(3, 1, "x", 1, 2)));
        TestProbe<LayerActor.Command> layer = testKit.createTestProbe();
        // an unknown block restores as empty
        curvature.tell(new CurvatureActor.Restore(4, layer.getRef()));
        assertEquals(0, layer.expectMessageClass(LayerActor.Restored.class).snapshot().getFactorsCount());
        testKit.stop(curvature);
        ActorRef<CurvatureActor.Command> again = testKit.spawn(CurvatureActor.create(store, null));
        again.tell(new CurvatureActor.Restore(3, layer.getRef()));
        BlockSnapshot restored = layer.expectMessageClass(LayerActor.Restored.class).snapshot();
        assertEquals("x", restored.getFactors(0).getLayer());
        assertEquals(1, restored.getRound());
    }
}
