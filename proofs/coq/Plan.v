(* Plan.v: the DeFT plan of common/plan.c, stated abstractly, and the theorem that DeFT equals the
   reference.

   The construction (deft_plan_build):
   - flattened tree KV splitting: node u's kv_len u tokens are cut into ntc = ceil(kv_len u / ct)
     token chunks of even size: chunk k starts at k * (L / ntc) + min(k, L mod ntc) and holds
     L / ntc tokens, one more when k < L mod ntc (tc_bounds);
   - KV-guided grouping: the query at position p of node u reads every token chunk of every proper
     ancestor in full, and those token chunks of u that start at or before p, each up to p
     (pair_visible = min(p - start + 1, len));
   - the reduction map: those (chunk, query) pairs, ancestors root first, then u's own chunks, in
     token order;
   - query slicing (chunk_queries): a token chunk's nq pairs are cut into sl slices, slice x holding
     pairs nq x / sl .. nq (x + 1) / sl - 1 (pair_start).
   Theorems: the token chunks partition each node, the slices partition each token chunk's pairs,
   the reduction list of a query covers exactly its visible tokens in order (red_list_covers), so
   merging the pairs' partial states gives exactly the reference attention (deft_exact,
   deft_equals_reference), in any order (deft_any_order) and bracketing (deft_any_tree). *)
Require Import Arith Lia List Permutation Reals.
Require Import Deft.Merge Deft.Forest.
Import ListNotations.
Local Open Scope nat_scope.

(* ------------------------------------------------------------------------------------------ *)
(* Consecutive segments s k .. s k + l k - 1 with s (k + 1) = s k + l k. *)

Section Segments.
Variables s l : nat -> nat.
Hypothesis consec : forall k, s (S k) = s k + l k.

Lemma s_mono : forall a m, s a <= s (a + m).
Proof.
  intros a m; induction m as [|m IH]; [rewrite Nat.add_0_r; lia|].
  rewrite Nat.add_succ_r, consec. lia.
Qed.

Lemma segs_concat : forall m a,
  concat (map (fun k => seq (s k) (l k)) (seq a m)) = seq (s a) (s (a + m) - s a).
Proof.
  induction m as [|m IH]; intro a; simpl.
  - rewrite Nat.add_0_r, Nat.sub_diag. reflexivity.
  - rewrite IH. replace (a + S m) with (S a + m) by lia.
    pose proof (s_mono (S a) m) as Hm. rewrite consec in *.
    replace (s (S a + m) - s a) with (l a + (s (S a + m) - (s a + l a))) by lia.
    rewrite seq_app. reflexivity.
Qed.

Lemma filter_none : forall (f : nat -> bool) L, (forall k, In k L -> f k = false) -> filter f L = [].
Proof.
  intros f L H. induction L as [|k L IH]; simpl; [reflexivity|].
  rewrite (H k (or_introl eq_refl)). apply IH. intros j Hj. apply H. right. exact Hj.
Qed.

(* The segments that start at or before p, each cut at p, are the prefix up to p. *)
Lemma segs_prefix : forall p m a, p < s (a + m) ->
  concat (map (fun k => seq (s k) (Nat.min (p - s k + 1) (l k)))
              (filter (fun k => s k <=? p) (seq a m)))
  = seq (s a) (S p - s a).
Proof.
  intro p. induction m as [|m IH]; intros a Hp.
  - rewrite Nat.add_0_r in Hp. replace (S p - s a) with 0 by lia. reflexivity.
  - remember (S p - s a) as r eqn:Er. simpl. destruct (Nat.leb_spec (s a) p) as [Ha | Ha].
    + simpl. destruct (Nat.lt_ge_cases p (s (S a))) as [Hn | Hn].
      * rewrite filter_none.
        -- simpl. rewrite app_nil_r. rewrite consec in Hn. f_equal. lia.
        -- intros k Hk. apply in_seq in Hk. apply Nat.leb_gt.
           pose proof (s_mono (S a) (k - S a)) as Hm. replace (S a + (k - S a)) with k in Hm by lia.
           lia.
      * rewrite IH by (replace (S a + m) with (a + S m) by lia; exact Hp).
        rewrite consec in *. replace (Nat.min (p - s a + 1) (l a)) with (l a) by lia.
        replace r with (l a + (S p - (s a + l a))) by lia.
        rewrite seq_app. reflexivity.
    + rewrite filter_none.
      * replace r with 0 by lia. reflexivity.
      * intros k Hk. apply in_seq in Hk. apply Nat.leb_gt.
        pose proof (s_mono (S a) (k - S a)) as Hm. replace (S a + (k - S a)) with k in Hm by lia.
        rewrite consec in Hm. lia.
Qed.
End Segments.

(* ------------------------------------------------------------------------------------------ *)
(* Even splitting (plan.c, tc_bounds). *)

Definition tc_start (L nc k : nat) : nat := k * (L / nc) + Nat.min k (L mod nc).
Definition tc_len (L nc k : nat) : nat := L / nc + (if k <? L mod nc then 1 else 0).

Lemma tc_consec : forall L nc k, tc_start L nc (S k) = tc_start L nc k + tc_len L nc k.
Proof.
  intros L nc k. unfold tc_start, tc_len. destruct (Nat.ltb_spec k (L mod nc)); lia.
Qed.

Lemma tc_start_0 : forall L nc, tc_start L nc 0 = 0.
Proof. intros. unfold tc_start. simpl. reflexivity. Qed.

Lemma tc_start_end : forall L nc, 0 < nc -> tc_start L nc nc = L.
Proof.
  intros L nc H. unfold tc_start. pose proof (Nat.mod_upper_bound L nc ltac:(lia)).
  pose proof (Nat.div_mod_eq L nc). rewrite Nat.min_r by lia. lia.
Qed.

(* The token chunks of a node are its tokens, each once, in order. *)
Theorem split_exact : forall L nc, 0 < nc ->
  concat (map (fun k => seq (tc_start L nc k) (tc_len L nc k)) (seq 0 nc)) = seq 0 L.
Proof.
  intros L nc H. rewrite (segs_concat _ _ (tc_consec L nc) nc 0).
  simpl. rewrite tc_start_0, tc_start_end by exact H. f_equal. lia.
Qed.

(* Even: every chunk holds L / nc or L / nc + 1 tokens. *)
Theorem split_even : forall L nc k, tc_len L nc k = L / nc \/ tc_len L nc k = L / nc + 1.
Proof. intros. unfold tc_len. destruct (k <? L mod nc); [right | left]; lia. Qed.

Section Chunks.
Variable ct : nat.
Hypothesis ct_pos : 0 < ct.

(* count_nodes: n_tc = (kv_len + ct - 1) / ct. *)
Definition ntc (L : nat) : nat := (L + ct - 1) / ct.

Lemma ntc_zero : ntc 0 = 0.
Proof. unfold ntc. simpl. apply Nat.div_small. lia. Qed.

Lemma ntc_pos : forall L, 0 < L -> 0 < ntc L.
Proof. intros L H. unfold ntc. apply Nat.div_str_pos. lia. Qed.

Lemma ntc_le : forall L, ntc L <= L.
Proof.
  intros L. unfold ntc. destruct L as [|L]; [rewrite Nat.div_small; lia|].
  apply Nat.lt_succ_r, Nat.div_lt_upper_bound; nia.
Qed.

Lemma ntc_cover : forall L, L <= ntc L * ct.
Proof.
  intros L. unfold ntc. pose proof (Nat.div_mod_eq (L + ct - 1) ct).
  pose proof (Nat.mod_upper_bound (L + ct - 1) ct ltac:(lia)). nia.
Qed.

(* Chunk sizes: 1 .. ct tokens, inside the node. *)
Theorem chunk_bounds : forall L k, 0 < L -> k < ntc L ->
  1 <= tc_len L (ntc L) k <= ct /\ tc_start L (ntc L) k + tc_len L (ntc L) k <= L.
Proof.
  intros L k HL Hk. set (nc := ntc L) in *.
  pose proof (ntc_le L) as Hle. pose proof (ntc_cover L) as Hcov. fold nc in Hle, Hcov.
  pose proof (Nat.div_mod_eq L nc) as Hdm. pose proof (Nat.mod_upper_bound L nc ltac:(lia)) as Hr.
  split; [split|].
  - unfold tc_len. pose proof (Nat.div_str_pos L nc ltac:(lia)). lia.
  - unfold tc_len. set (q := L / nc) in *. set (r := L mod nc) in *.
    destruct (Nat.ltb_spec k r).
    + assert (nc * q < nc * ct) by lia. apply Nat.mul_lt_mono_pos_l in H0; lia.
    + assert (nc * q <= nc * ct) by lia. apply Nat.mul_le_mono_pos_l in H0; lia.
  - rewrite <- tc_consec. rewrite <- (tc_start_end L nc) at 2 by lia.
    pose proof (s_mono _ _ (tc_consec L nc) (S k) (nc - S k)) as Hm.
    replace (S k + (nc - S k)) with nc in Hm by lia. exact Hm.
Qed.

End Chunks.

(* ------------------------------------------------------------------------------------------ *)
(* Query slicing (chunk_queries): slice x of a token chunk's nq pairs starts at nq x / sl. *)

Definition sl_start (nq sl x : nat) : nat := nq * x / sl.
Definition sl_len (nq sl x : nat) : nat := sl_start nq sl (S x) - sl_start nq sl x.

Lemma sl_mono : forall nq sl x, sl_start nq sl x <= sl_start nq sl (S x).
Proof.
  intros nq sl x. unfold sl_start. destruct sl as [|sl]; [simpl; lia|].
  apply Nat.div_le_mono; [lia | nia].
Qed.

Theorem slices_partition : forall nq sl, 0 < sl ->
  concat (map (fun x => seq (sl_start nq sl x) (sl_len nq sl x)) (seq 0 sl)) = seq 0 nq.
Proof.
  intros nq sl H.
  assert (C : forall x, sl_start nq sl (S x) = sl_start nq sl x + sl_len nq sl x).
  { intro x. unfold sl_len. pose proof (sl_mono nq sl x). lia. }
  rewrite (segs_concat _ _ C sl 0). simpl.
  unfold sl_start. rewrite Nat.mul_0_r, Nat.div_0_l, Nat.div_mul by lia. f_equal. lia.
Qed.

(* No slice is empty while there are at least as many pairs as slices. *)
Theorem slice_nonempty : forall nq sl x, 0 < sl <= nq -> 1 <= sl_len nq sl x.
Proof.
  intros nq sl x H. unfold sl_len, sl_start.
  replace (nq * S x) with (nq * x + nq) by ring.
  assert ((nq * x + sl) / sl <= (nq * x + nq) / sl) by (apply Nat.div_le_mono; lia).
  replace (nq * x + sl) with (nq * x + 1 * sl) in H0 by ring.
  rewrite Nat.div_add in H0 by lia. lia.
Qed.

(* n_slices: sl = ceil(nq / cq) slices hold at most cq pairs each. *)
Theorem slice_bound : forall nq cq x, 0 < cq -> 0 < nq ->
  sl_len nq ((nq + cq - 1) / cq) x <= cq.
Proof.
  intros nq cq x Hcq Hnq. set (sl := (nq + cq - 1) / cq).
  assert (Hsl : 0 < sl) by (apply Nat.div_str_pos; lia).
  assert (Hcov : nq <= sl * cq).
  { pose proof (Nat.div_mod_eq (nq + cq - 1) cq).
    pose proof (Nat.mod_upper_bound (nq + cq - 1) cq ltac:(lia)). unfold sl. nia. }
  unfold sl_len, sl_start. replace (nq * S x) with (nq * x + nq) by ring.
  assert ((nq * x + nq) / sl <= (nq * x + cq * sl) / sl) by (apply Nat.div_le_mono; lia).
  rewrite Nat.div_add in H by lia. lia.
Qed.

(* ------------------------------------------------------------------------------------------ *)
(* The reduction list of a query, and coverage. *)

Section Plan.
Variable parent : nat -> option nat.
Hypothesis topo : forall u p, parent u = Some p -> p < u.
Variable kv_len : nat -> nat.
Variable ct : nat.
Hypothesis ct_pos : 0 < ct.

(* A (chunk, query) pair as the reduction sees it: the node, the chunk's first token and how
   many of its tokens the query sees (pair_visible). *)
Record pair_rec := { pnode : nat; pstart : nat; pvis : nat }.
Definition ptoks (e : pair_rec) : list (nat * nat) := map (pair (pnode e)) (seq (pstart e) (pvis e)).

Definition nchunks (u : nat) : nat := ntc ct (kv_len u).
Definition cstart (u k : nat) : nat := tc_start (kv_len u) (nchunks u) k.
Definition clen (u k : nat) : nat := tc_len (kv_len u) (nchunks u) k.

(* An ancestor's chunks, read in full. *)
Definition anc_pairs (a : nat) : list pair_rec :=
  map (fun k => {| pnode := a; pstart := cstart a k; pvis := clen a k |}) (seq 0 (nchunks a)).
(* The query's own node: chunks starting at or before p, seen up to p. *)
Definition own_pairs (u p : nat) : list pair_rec :=
  map (fun k => {| pnode := u; pstart := cstart u k; pvis := Nat.min (p - cstart u k + 1) (clen u k) |})
      (filter (fun k => cstart u k <=? p) (seq 0 (nchunks u))).
(* red_pair[red_start[q] ..]: ancestors root first, then the own node. *)
Definition red_list (u p : nat) : list pair_rec :=
  flat_map anc_pairs (ancs parent u) ++ own_pairs u p.

Lemma anc_pairs_cover : forall a, concat (map ptoks (anc_pairs a)) = toks kv_len a.
Proof.
  intro a. unfold anc_pairs, toks, ptoks. rewrite map_map. cbn [pnode pstart pvis].
  destruct (Nat.eq_dec (kv_len a) 0) as [H0 | H0].
  - unfold nchunks. rewrite H0, ntc_zero by exact ct_pos. reflexivity.
  - assert (Hn : 0 < nchunks a) by (apply ntc_pos; lia).
    rewrite <- (split_exact (kv_len a) (nchunks a) Hn).
    rewrite concat_map, map_map. f_equal.
Qed.

Lemma own_pairs_cover : forall u p, p < kv_len u ->
  concat (map ptoks (own_pairs u p)) = map (pair u) (seq 0 (S p)).
Proof.
  intros u p Hp. assert (Hn : 0 < nchunks u) by (apply ntc_pos; lia).
  unfold own_pairs, ptoks. rewrite map_map. cbn [pnode pstart pvis].
  assert (E : seq 0 (S p) =
    concat (map (fun k => seq (cstart u k) (Nat.min (p - cstart u k + 1) (clen u k)))
                (filter (fun k => cstart u k <=? p) (seq 0 (nchunks u))))).
  { unfold cstart, clen. rewrite (segs_prefix _ _ (tc_consec (kv_len u) (nchunks u)) p).
    - rewrite tc_start_0. f_equal.
    - simpl. rewrite tc_start_end by exact Hn. exact Hp. }
  rewrite E, concat_map, map_map. reflexivity.
Qed.

(* Coverage: the query's reduction list names exactly its visible tokens, each once, root first
   and in token order. *)
Theorem red_list_covers : forall u p, p < kv_len u ->
  concat (map ptoks (red_list u p)) = vis_list parent kv_len u p.
Proof.
  intros u p Hp. unfold red_list, vis_list. rewrite map_app, concat_app.
  rewrite own_pairs_cover by exact Hp. f_equal.
  induction (ancs parent u) as [|a l IH]; simpl; [reflexivity|].
  rewrite map_app, concat_app, IH, anc_pairs_cover. reflexivity.
Qed.

Theorem red_list_exactly_once : forall u p, p < kv_len u ->
  NoDup (concat (map ptoks (red_list u p))) /\
  forall t, In t (concat (map ptoks (red_list u p))) <-> visible parent kv_len u p t.
Proof.
  intros u p Hp. rewrite red_list_covers by exact Hp. apply vis_list_exact. exact topo.
Qed.

(* Every pair the map names is a real piece of a chunk: 1 .. clen tokens from its start. *)
Theorem red_list_pairs_bounded : forall u p e, p < kv_len u -> In e (red_list u p) ->
  1 <= pvis e /\ pstart e + pvis e <= kv_len (pnode e) /\ pvis e <= ct.
Proof.
  intros u p e Hp He. unfold red_list in He. apply in_app_iff in He. destruct He as [He | He].
  - apply in_flat_map in He. destruct He as [a [_ He]]. unfold anc_pairs in He.
    apply in_map_iff in He. destruct He as [k [<- Hk]]. apply in_seq in Hk. simpl.
    assert (0 < kv_len a) by (destruct (kv_len a) eqn:E; [unfold nchunks in Hk; rewrite E, ntc_zero in Hk by exact ct_pos; lia | lia]).
    pose proof (chunk_bounds ct ct_pos (kv_len a) k H ltac:(unfold nchunks in Hk; lia)). unfold cstart, clen, nchunks. lia.
  - unfold own_pairs in He. apply in_map_iff in He. destruct He as [k [<- Hk]].
    apply filter_In in Hk. destruct Hk as [Hk Hs]. apply in_seq in Hk. apply Nat.leb_le in Hs. simpl.
    pose proof (chunk_bounds ct ct_pos (kv_len u) k ltac:(lia) ltac:(unfold nchunks in Hk; lia)).
    unfold cstart, clen, nchunks in *. lia.
Qed.

(* ------------------------------------------------------------------------------------------ *)
(* DeFT equals the reference. score and value are those of one query and one head: score t is
   scale * q . k_t, value t x is V_t[x] (docs/semantics.md). The partial state of a pair is the
   attention over its tokens (what phase 2 computes); phase 3 merges them in red_list order. *)

Variable score : nat * nat -> R.
Variable value : nat * nat -> nat -> R.

Definition partial (e : pair_rec) : state := attn _ score value (ptoks e).
Definition deft (u p : nat) : state := fold_left merge (map partial (red_list u p)) empty.

Theorem deft_exact : forall u p, p < kv_len u ->
  st_eq (deft u p) (attn _ score value (vis_list parent kv_len u p)).
Proof.
  intros u p Hp. unfold deft, partial.
  rewrite <- (map_map ptoks (attn _ score value)).
  apply partition_fold. rewrite red_list_covers by exact Hp. apply Permutation_refl.
Qed.

(* The reference computes attention over the set of visible tokens, however it lists them. *)
Theorem deft_equals_reference : forall u p S, p < kv_len u ->
  NoDup S -> (forall t, In t S <-> visible parent kv_len u p t) ->
  st_eq (deft u p) (attn _ score value S).
Proof.
  intros u p S Hp HS HV. eapply st_eq_trans; [apply deft_exact; exact Hp|].
  destruct (vis_list_exact parent topo kv_len u p) as [Hn Hi].
  apply attn_set; [exact Hn | exact HS | intro t; rewrite Hi, HV; reflexivity].
Qed.

(* Any order of the pairs gives the same state ... *)
Theorem deft_any_order : forall u p R, p < kv_len u -> Permutation (red_list u p) R ->
  st_eq (fold_left merge (map partial R) empty) (attn _ score value (vis_list parent kv_len u p)).
Proof.
  intros u p R Hp HR. unfold partial. rewrite <- (map_map ptoks (attn _ score value)).
  apply partition_any_order with (map ptoks (red_list u p)).
  - apply Permutation_map. exact HR.
  - rewrite red_list_covers by exact Hp. apply Permutation_refl.
Qed.

(* ... and so does any tree of merges over the pairs (a parallel reduction). *)
Theorem deft_any_tree : forall u p (t : mtree (nat * nat)), p < kv_len u ->
  Permutation (leaves _ t) (concat (map ptoks (red_list u p))) ->
  st_eq (eval _ score value t) (attn _ score value (vis_list parent kv_len u p)).
Proof.
  intros u p t Hp Ht. apply partition_tree. rewrite <- red_list_covers by exact Hp. exact Ht.
Qed.

End Plan.
