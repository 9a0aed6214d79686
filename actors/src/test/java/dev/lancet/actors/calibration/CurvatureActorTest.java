package dev.lancet.actors.calibration;

import dev.lancet.actors.TestKits;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.actors.calibration.BlockSums.LayerSums;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.curvature.KfacState;
import java.time.Duration;
import java.util.List;
import java.util.TreeSet;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class CurvatureActorTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    /** Block i holds one layer, named "a", "b", "c", ... with 2 inputs and 3 outputs. */
    private static final ModelLayout LAYOUT = new ModelLayout(List.of(block("a"), block("b"), block("c"), block("x"),
            block("y")));
    private static final List<List<KfacFactor.Shape>> BLOCKS = CalibrationWork.factors(LAYOUT);

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    private static BlockLayout block(String name) {
        return Layouts.block(Layouts.linear(name, 2, 3, false));
    }

    private static KfacFactor factor(String layer, double value, long tokens) {
        return KfacFactor.fromSums(layer, false, Nd4j.eye(2).castTo(DataType.DOUBLE).muli(value),
                Nd4j.eye(3).castTo(DataType.DOUBLE).muli(value), tokens);
    }

    private static BlockSums block(int block, long round, String layer, double value, long tokens) {
        return new BlockSums(block, round, List.of(new LayerSums(factor(layer, value, tokens), new TreeSet<>())));
    }

    @Test
    void collectsOnceEveryBlockReportedTheRoundAndAddsTheBase() {
        KfacState base = new KfacState();
        base.put(factor("b", 1, 1));
        base.put(factor("a", 1, 1));
        ActorRef<CurvatureActor.Command> curvature = testKit.spawn(
                CurvatureActor.create(SnapshotStore.inMemory(), base, BLOCKS.subList(0, 2)));
        TestProbe<CurvatureActor.Collected> probe = testKit.createTestProbe();
        curvature.tell(new CurvatureActor.BlockState(block(0, 1, "a", 2, 4)));
        curvature.tell(new CurvatureActor.Collect(2, 2, 0, probe.getRef()));
        curvature.tell(new CurvatureActor.BlockState(block(1, 2, "b", 3, 4)));
        probe.expectNoMessage(Duration.ofMillis(200)); // block 0 is still at round 1
        curvature.tell(new CurvatureActor.BlockState(block(0, 2, "a", 5, 4)));
        KfacState state = probe.expectMessageClass(CurvatureActor.Collected.class).toState();
        assertEquals(5, state.get("a").tokens());
        assertEquals(6.0, state.get("a").sumA().getDouble(0, 0), 0);
        assertEquals(4.0, state.get("b").sumG().getDouble(2, 2), 0);
    }

    /** A layer actor restarted from an older snapshot may answer a last round before its lost batches are replayed. */
    @Test
    void aLastRoundWithoutEveryBatchIsNotCollected() {
        ActorRef<CurvatureActor.Command> curvature = testKit.spawn(
                CurvatureActor.create(SnapshotStore.inMemory(), null, BLOCKS.subList(0, 1)));
        TestProbe<CurvatureActor.Collected> probe = testKit.createTestProbe();
        curvature.tell(new CurvatureActor.Collect(3, 1, 2, probe.getRef()));
        curvature.tell(new CurvatureActor.BlockState(new BlockSums(0, 3, List.of(new LayerSums(factor("a", 1, 2),
                new TreeSet<>(List.of(0L)))))));
        probe.expectNoMessage(Duration.ofMillis(200));
        // the replayed batch folded, a later round: it answers the request of the earlier one
        curvature.tell(new CurvatureActor.BlockState(new BlockSums(0, 4, List.of(new LayerSums(factor("a", 2, 4),
                new TreeSet<>(List.of(0L, 1L)))))));
        KfacState state = probe.expectMessageClass(CurvatureActor.Collected.class).toState();
        assertEquals(4, state.get("a").tokens());
    }

    @Test
    void restoresLayerActorsFromTheStoreEvenAfterItsOwnRestart() {
        SnapshotStore store = SnapshotStore.inMemory();
        ActorRef<CurvatureActor.Command> curvature = testKit.spawn(CurvatureActor.create(store, null, BLOCKS));
        curvature.tell(new CurvatureActor.BlockState(block(3, 1, "x", 1, 2)));
        TestProbe<LayerActor.Command> layer = testKit.createTestProbe();
        // a block without a snapshot restores as empty
        curvature.tell(new CurvatureActor.Restore(4, layer.getRef()));
        assertEquals(0, layer.expectMessageClass(LayerActor.Restored.class).sums().layers().size());
        testKit.stop(curvature);
        ActorRef<CurvatureActor.Command> again = testKit.spawn(CurvatureActor.create(store, null, BLOCKS));
        again.tell(new CurvatureActor.Restore(3, layer.getRef()));
        BlockSums restored = layer.expectMessageClass(LayerActor.Restored.class).sums();
        assertEquals("x", restored.layers().get(0).factor().layer());
        assertEquals(1, restored.round());
    }

    @Test
    void aSnapshotThatDoesNotMatchItsBlockRestartsTheActorAndIsNotStored() {
        SnapshotStore store = SnapshotStore.inMemory();
        ActorRef<CurvatureActor.Command> curvature = testKit.spawn(CurvatureActor.create(store, null, BLOCKS));
        curvature.tell(new CurvatureActor.BlockState(block(2, 1, "c", 1, 2)));
        curvature.tell(new CurvatureActor.BlockState(block(2, 2, "a", 1, 2))); // another block's layer
        curvature.tell(new CurvatureActor.BlockState(new BlockSums(2, 3, List.of(new LayerSums(
                KfacFactor.empty(Layouts.linear("c", 5, 3, false)), new TreeSet<>()))))); // another shape
        TestProbe<LayerActor.Command> layer = testKit.createTestProbe();
        curvature.tell(new CurvatureActor.Restore(2, layer.getRef()));
        BlockSums restored = layer.expectMessageClass(LayerActor.Restored.class).sums();
        assertEquals(1, restored.round());
        assertEquals("c", restored.layers().get(0).factor().layer());
    }
}
