(* Forest.v: a forest given by a parent array in topological order (docs/semantics.md, "The
   problem"), its ancestor relation, the walk up the parent links, and the tokens a query sees.

   Nodes are natural numbers; parent u = None is a root (-1 in C), parent u = Some p requires
   p < u (what deft_tree_validate accepts, proofs/frama-c/validate). A token is (node, position). *)
Require Import Arith Lia List Permutation.
Import ListNotations.

Lemma NoDup_app_intro : forall (A : Type) (l m : list A), NoDup l -> NoDup m ->
  (forall x, In x l -> In x m -> False) -> NoDup (l ++ m).
Proof.
  intros A l m Hl Hm Hd. induction l as [|a l IH]; simpl; [exact Hm|]. inversion Hl; subst.
  constructor.
  - rewrite in_app_iff. intros [H | H]; [contradiction | exact (Hd a (or_introl eq_refl) H)].
  - apply IH; [assumption | intros x Hx; apply Hd; right; exact Hx].
Qed.
Arguments NoDup_app_intro {A} l m.

Section Forest.
Variable parent : nat -> option nat.
Hypothesis topo : forall u p, parent u = Some p -> p < u.
Variable kv_len : nat -> nat.

(* anc a u: a is a proper ancestor of u (the parent, its parent, ...). *)
Inductive anc : nat -> nat -> Prop :=
| anc_parent : forall u a, parent u = Some a -> anc a u
| anc_step : forall u p a, parent u = Some p -> anc a p -> anc a u.

Lemma anc_lt : forall a u, anc a u -> a < u.
Proof. intros a u H; induction H; [apply topo; assumption | apply topo in H; lia]. Qed.

Lemma anc_irrefl : forall u, ~ anc u u.
Proof. intros u H. apply anc_lt in H. lia. Qed.

(* The walk up the parent links, root first; fuel bounds its length. *)
Fixpoint ancs_fuel (f u : nat) : list nat :=
  match f with
  | 0 => []
  | S f' => match parent u with None => [] | Some p => ancs_fuel f' p ++ [p] end
  end.
Definition ancs (u : nat) : list nat := ancs_fuel (S u) u.

Lemma ancs_fuel_spec : forall f u a, u < f -> (In a (ancs_fuel f u) <-> anc a u).
Proof.
  induction f as [|f IH]; intros u a Hu; [lia|]. simpl.
  destruct (parent u) as [p|] eqn:Hp.
  - pose proof (topo u p Hp) as Hpu. rewrite in_app_iff, (IH p a ltac:(lia)). simpl. split.
    + intros [H | [H | []]]; [apply anc_step with p; assumption | subst; apply anc_parent; exact Hp].
    + intro H. inversion H; subst; rewrite Hp in *; match goal with
        | [ E : Some _ = Some _ |- _ ] => inversion E; subst end; [right; left; reflexivity | left; assumption].
  - split; [intros []|]. intro H. inversion H; congruence.
Qed.

Theorem ancs_spec : forall u a, In a (ancs u) <-> anc a u.
Proof. intros u a. apply ancs_fuel_spec. lia. Qed.

Lemma ancs_fuel_nodup : forall f u, u < f -> NoDup (ancs_fuel f u).
Proof.
  induction f as [|f IH]; intros u Hu; [lia|]. simpl.
  destruct (parent u) as [p|] eqn:Hp; [|constructor].
  pose proof (topo u p Hp) as Hpu.
  apply Permutation_NoDup with (p :: ancs_fuel f p); [apply Permutation_cons_append|].
  constructor; [|apply IH; lia].
  intro H. apply (ancs_fuel_spec f p p ltac:(lia)) in H. exact (anc_irrefl p H).
Qed.

Theorem ancs_nodup : forall u, NoDup (ancs u).
Proof. intro u. apply ancs_fuel_nodup. lia. Qed.

(* ------------------------------------------------------------------------------------------ *)
(* Visibility (docs/semantics.md): the query at position p of node u sees every token of every
   proper ancestor of u and tokens 0..p of u. *)

Definition visible (u p : nat) (t : nat * nat) : Prop :=
  (anc (fst t) u /\ snd t < kv_len (fst t)) \/ (fst t = u /\ snd t <= p).

Definition toks (a : nat) : list (nat * nat) := map (pair a) (seq 0 (kv_len a)).

(* The visible tokens listed root first, each node in token order. *)
Definition vis_list (u p : nat) : list (nat * nat) :=
  flat_map toks (ancs u) ++ map (pair u) (seq 0 (S p)).

Lemma in_toks : forall a t, In t (toks a) <-> fst t = a /\ snd t < kv_len a.
Proof.
  intros a [w j]. unfold toks. rewrite in_map_iff. simpl. split.
  - intros [i [E Hi]]. inversion E; subst. apply in_seq in Hi. split; [reflexivity | lia].
  - intros [-> Hj]. exists j. split; [reflexivity | apply in_seq; lia].
Qed.

Lemma nodup_map_pair : forall a l, NoDup l -> NoDup (map (@pair nat nat a) l).
Proof.
  intros a l H. apply FinFun.Injective_map_NoDup; [|exact H].
  intros x y E. inversion E. reflexivity.
Qed.

Lemma nodup_flat_map_toks : forall l, NoDup l -> NoDup (flat_map toks l).
Proof.
  induction l as [|a l IH]; intro H; simpl; [constructor|]. inversion H; subst.
  apply NoDup_app_intro.
  - apply nodup_map_pair, seq_NoDup.
  - apply IH; assumption.
  - intros t Ht Ht'. apply in_toks in Ht. apply in_flat_map in Ht'.
    destruct Ht' as [b [Hb Ht']]. apply in_toks in Ht'. destruct Ht, Ht'. congruence.
Qed.

(* The visible tokens are exactly those of the ancestors' nodes plus the query's own prefix, and
   the list names each once. *)
Theorem vis_list_exact : forall u p,
  NoDup (vis_list u p) /\ forall t, In t (vis_list u p) <-> visible u p t.
Proof.
  intros u p. split.
  - unfold vis_list. apply NoDup_app_intro.
    + apply nodup_flat_map_toks, ancs_nodup.
    + apply nodup_map_pair, seq_NoDup.
    + intros t Ht Ht'. apply in_flat_map in Ht. destruct Ht as [a [Ha Ht]].
      apply in_toks in Ht. apply in_map_iff in Ht'. destruct Ht' as [j [<- _]].
      simpl in Ht. destruct Ht as [E _]. rewrite <- E in Ha. apply ancs_spec in Ha.
      exact (anc_irrefl u Ha).
  - intros [w j]. unfold vis_list, visible. rewrite in_app_iff, in_flat_map, in_map_iff.
    cbn [fst snd].
    split.
    + intros [[a [Ha Ht]] | [i [E Hi]]].
      * apply in_toks in Ht. simpl in Ht. destruct Ht as [-> Hj].
        left. split; [apply ancs_spec; exact Ha | exact Hj].
      * inversion E; subst. apply in_seq in Hi. right. split; [reflexivity | lia].
    + intros [[Ha Hj] | [-> Hj]].
      * left. exists w. split; [apply ancs_spec; exact Ha | apply in_toks; split; auto].
      * right. exists j. split; [reflexivity | apply in_seq; lia].
Qed.

(* The C walks (deft_tree_ancestor_tokens, plan.c's up links) use that ancestors' KV counts add
   up along the path. *)
Fixpoint sum_list (l : list nat) : nat := match l with [] => 0 | x :: r => x + sum_list r end.

Lemma ancs_parent : forall u p, parent u = Some p -> ancs u = ancs p ++ [p].
Proof.
  intros u p Hp. pose proof (topo u p Hp) as Hpu.
  (* fuel independence: any fuel above the node gives the same walk *)
  assert (forall f g v, v < f -> v < g -> ancs_fuel f v = ancs_fuel g v) as Hfuel.
  { induction f as [|f IH]; intros g v Hf Hg; [lia|]. destruct g as [|g]; [lia|]. simpl.
    destruct (parent v) as [q|] eqn:Hq; [|reflexivity].
    pose proof (topo v q Hq). rewrite (IH g q); [reflexivity | lia | lia]. }
  transitivity (ancs_fuel u p ++ [p]).
  - unfold ancs. cbn [ancs_fuel]. rewrite Hp. reflexivity.
  - unfold ancs. f_equal. apply Hfuel; lia.
Qed.

Lemma ancs_root : forall u, parent u = None -> ancs u = [].
Proof. intros u H. unfold ancs. simpl. rewrite H. reflexivity. Qed.

(* deft_tree_ancestor_tokens: anc[i] = p < 0 ? 0 : anc[p] + kv_len[p] counts the tokens of the
   proper ancestors. *)
Theorem ancestor_tokens_rec : forall u,
  sum_list (map kv_len (ancs u)) =
  match parent u with None => 0 | Some p => sum_list (map kv_len (ancs p)) + kv_len p end.
Proof.
  intro u. destruct (parent u) as [p|] eqn:Hp.
  - rewrite (ancs_parent u p Hp), map_app. simpl.
    induction (map kv_len (ancs p)) as [|x r IH]; simpl; lia.
  - rewrite ancs_root by exact Hp. reflexivity.
Qed.

Theorem vis_count : forall u p,
  length (vis_list u p) = sum_list (map kv_len (ancs u)) + S p.
Proof.
  intros u p. unfold vis_list. rewrite app_length, map_length, seq_length. f_equal.
  induction (ancs u) as [|a l IH]; simpl; [reflexivity|].
  rewrite app_length, IH. unfold toks. rewrite map_length, seq_length. reflexivity.
Qed.

End Forest.
