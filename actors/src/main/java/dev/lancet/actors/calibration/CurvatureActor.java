package dev.lancet.actors.calibration;

import dev.lancet.actors.WireMessage;
import com.google.protobuf.Message;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.proto.CollectRequest;
import dev.lancet.proto.CurvatureCollected;
import dev.lancet.proto.RestoreRequest;
import dev.lancet.proto.SnapshotTaken;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Keeps the model's KFAC state: the last snapshot of every block's running sums (in a {@link SnapshotStore},
 * so a restart loses nothing), restores layer actors from it, and assembles the whole state — merged with
 * a base state such as an earlier factor file — when a collection round completes.
 */
public final class CurvatureActor {

    public sealed interface Command extends WireMessage permits BlockState, Restore, Collect {
    }

    /** A layer actor's sums for a snapshot round, handed over to the store. */
    public record BlockState(BlockSums sums) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SnapshotTaken.newBuilder().setSnapshot(sums.toProto()).build();
        }
    }

    /** A (re)starting layer actor asks for its block's last snapshot. */
    public record Restore(int block, ActorRef<LayerActor.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return RestoreRequest.newBuilder().setBlock(block).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /**
     * Reply with the whole state once every block has reported round {@code round} (the run's last) or a later one,
     * with every layer holding all {@code batches} batches: a layer actor restarted from an older snapshot may answer
     * a last round before the batches it lost are replayed.
     */
    public record Collect(long round, int blocks, long batches, ActorRef<Collected> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return CollectRequest.newBuilder().setRound(round).setBlocks(blocks).setBatches(batches)
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** The whole model's running sums (block −1). */
    public record Collected(BlockSums state) implements WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return CurvatureCollected.newBuilder().setState(state.toProto()).build();
        }

        public KfacState toState() {
            return state.toState();
        }
    }

    private final SnapshotStore store;
    private final KfacState base;
    private final List<List<KfacFactor.Shape>> blocks;
    private final Map<Long, Collect> pending = new HashMap<>();

    private CurvatureActor(SnapshotStore store, KfacState base, List<List<KfacFactor.Shape>> blocks) {
        this.store = store;
        this.base = base;
        this.blocks = List.copyOf(blocks);
    }

    /**
     * @param base   state to add to the collected sums (e.g. {@code --add-to}); null for none
     * @param blocks the factors of each layer actor's block, which every snapshot must match
     */
    public static Behavior<Command> create(SnapshotStore store, KfacState base, List<List<KfacFactor.Shape>> blocks) {
        Behavior<Command> behavior = Behaviors.setup(context -> new CurvatureActor(store, base, blocks).behavior());
        return Behaviors.supervise(behavior).onFailure(Exception.class, SupervisorStrategy.restart());
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(BlockState.class, this::onBlockState)
                .onMessage(Restore.class, this::onRestore)
                .onMessage(Collect.class, this::onCollect)
                .build();
    }

    private Behavior<Command> onBlockState(BlockState state) {
        // check before storing: a malformed snapshot fails here (and restarts this actor), never at restore time
        check(state.sums());
        store.save(state.sums());
        new ArrayList<>(pending.values()).forEach(this::tryCollect);
        return Behaviors.same();
    }

    private void check(BlockSums sums) {
        if (sums.block() < 0 || sums.block() >= blocks.size()) {
            sums.close();
            throw new IllegalArgumentException("snapshot of block " + sums.block() + ", the run has "
                    + blocks.size());
        }
        List<KfacFactor.Shape> shapes = blocks.get(sums.block());
        boolean matches = sums.layers().size() == shapes.size();
        for (int i = 0; matches && i < shapes.size(); i++) {
            matches = sums.layers().get(i).factor().fits(shapes.get(i));
        }
        if (!matches) {
            sums.close();
            throw new IllegalArgumentException("snapshot of block " + sums.block() + " does not match its factors "
                    + shapes);
        }
    }

    private Behavior<Command> onRestore(Restore restore) {
        BlockSums sums = store.peek(restore.block()).map(BlockSums::copy).orElse(BlockSums.empty(restore.block()));
        restore.replyTo().tell(new LayerActor.Restored(sums));
        return Behaviors.same();
    }

    private Behavior<Command> onCollect(Collect collect) {
        pending.put(collect.round(), collect);
        tryCollect(collect);
        return Behaviors.same();
    }

    /**
     * Once every block's snapshot is at the round and complete, takes them out of the store (no copy) and replies;
     * requests of earlier rounds are answered by this one.
     */
    private void tryCollect(Collect collect) {
        for (int b = 0; b < collect.blocks(); b++) {
            if (store.peek(b).filter(s -> s.round() >= collect.round() && s.layers().stream()
                    .allMatch(l -> l.batches().size() >= collect.batches())).isEmpty()) {
                return;
            }
        }
        pending.clear();
        List<LayerSums> all = new ArrayList<>();
        for (int b = 0; b < collect.blocks(); b++) {
            for (LayerSums layer : store.take(b).orElseThrow().layers()) {
                if (base != null) {
                    layer.factor().merge(base.get(layer.factor().layer()));
                }
                all.add(new LayerSums(layer.factor(), new TreeSet<>()));
            }
        }
        collect.replyTo().tell(new Collected(new BlockSums(-1, collect.round(), all)));
    }
}
