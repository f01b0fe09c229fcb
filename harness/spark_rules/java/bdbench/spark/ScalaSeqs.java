package bdbench.spark;

import java.util.List;

import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/** Conversions between Java lists and the Scala sequences that Catalyst's API takes and returns. */
final class ScalaSeqs {

    private ScalaSeqs() {
    }

    /** An immutable Scala sequence of {@code list}'s elements. */
    static <T> Seq<T> toSeq(List<T> list) {
        return CollectionConverters.asScala(list).toSeq();
    }

    /** A read-only Java view of a Scala sequence. */
    static <T> List<T> toList(scala.collection.Seq<T> seq) {
        return CollectionConverters.asJava(seq);
    }
}
