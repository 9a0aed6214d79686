package dev.lancet.actors;

import com.google.protobuf.Message;
import org.apache.pekko.actor.typed.ActorRefResolver;

/**
 * A message that crosses an actor boundary and so may travel as its own Protocol Buffers message: it knows its
 * proto form, and {@link ProtoSerializer} gives it a manifest and reads it back. Actor references go as
 * resolvable path strings. Messages an actor sends only itself (timer ticks, adapted replies) are private
 * records instead, marked {@code NoSerializationVerificationNeeded}.
 */
public interface WireMessage {
    Message toProto(ActorRefResolver resolver);
}
