(* Merge.v: softmax attention over a finite set of tokens as a state (O, LSE), the LSE merge of
   common/merge.c (deft_merge), and the partition theorem, over the reals.

   LSE = -infinity (the empty state) is modelled explicitly: lse is an option R, None being
   -infinity. O is a vector given as a function of the coordinate (nat -> R); two states are
   compared coordinatewise (st_eq), so nothing here needs functional extensionality.

   The proof idea: a state is determined by its mass Z = exp LSE (0 for the empty state) and its
   moment N_x = Z * O_x; merge adds masses and moments (merge_mass, merge_mom), and attention over
   a list of tokens has mass sum_j exp s_j and moment sum_j exp s_j v_j. Everything else is
   commutativity and associativity of + on R. *)
Require Import Reals Lra List Permutation.
Import ListNotations.
Local Open Scope R_scope.

(* ------------------------------------------------------------------------------------------ *)
(* States and the merge. *)

Record state := mk { o : nat -> R; lse : option R }.

(* (0, -inf): attention over no token. *)
Definition empty : state := mk (fun _ => 0) None.

(* The empty state carries O = 0; every state the library builds does (deft_merge's header). *)
Definition valid (s : state) : Prop := lse s = None -> forall x, o s x = 0.

(* Equality of states: the same LSE and the same O in every coordinate. *)
Definition st_eq (a b : state) : Prop := lse a = lse b /\ forall x, o a x = o b x.

(* deft_merge, statement by statement:
     if (lse_b == -inf) return a;  if (lse_a == -inf) return b;
     m = lse_a > lse_b ? lse_a : lse_b;  wa = exp(lse_a - m);  wb = exp(lse_b - m);  s = wa + wb;
     o = (wa / s) o_a + (wb / s) o_b;  lse = m + ln s. *)
Definition merge (a b : state) : state :=
  match lse b with
  | None => a
  | Some lb =>
      match lse a with
      | None => b
      | Some la =>
          let m := if Rlt_dec lb la then la else lb in
          let wa := exp (la - m) in
          let wb := exp (lb - m) in
          let s := wa + wb in
          mk (fun x => wa / s * o a x + wb / s * o b x) (Some (m + ln s))
      end
  end.

(* Mass Z = exp LSE and moment N_x = Z O_x. *)
Definition mass (s : state) : R := match lse s with None => 0 | Some l => exp l end.
Definition mom (s : state) (x : nat) : R := mass s * o s x.

Lemma mass_nonneg : forall s, 0 <= mass s.
Proof. intros [f [l|]]; unfold mass; simpl; [left; apply exp_pos | lra]. Qed.

Lemma mass_zero_iff : forall s, mass s = 0 <-> lse s = None.
Proof.
  intros [f [l|]]; unfold mass; simpl; split; intro H; try reflexivity; try discriminate.
  - pose proof (exp_pos l); lra.
Qed.

Lemma merge_mass : forall a b, mass (merge a b) = mass a + mass b.
Proof.
  intros [fa [la|]] [fb [lb|]]; unfold merge, mass; simpl; try ring.
  set (m := if Rlt_dec lb la then la else lb).
  assert (Hs : 0 < exp (la - m) + exp (lb - m)) by (pose proof (exp_pos (la - m));
                                                   pose proof (exp_pos (lb - m)); lra).
  rewrite exp_plus, exp_ln by exact Hs.
  rewrite Rmult_plus_distr_l, <- !exp_plus.
  replace (m + (la - m)) with la by ring. replace (m + (lb - m)) with lb by ring. reflexivity.
Qed.

Lemma merge_mom : forall a b x, mom (merge a b) x = mom a x + mom b x.
Proof.
  intros [fa [la|]] [fb [lb|]] x; unfold merge, mom, mass; simpl; try ring.
  set (m := if Rlt_dec lb la then la else lb).
  pose proof (exp_pos (la - m)) as Ha. pose proof (exp_pos (lb - m)) as Hb.
  assert (Hs : 0 < exp (la - m) + exp (lb - m)) by lra.
  rewrite exp_plus, exp_ln by exact Hs.
  assert (Ea : exp la = exp m * exp (la - m)) by (rewrite <- exp_plus; f_equal; ring).
  assert (Eb : exp lb = exp m * exp (lb - m)) by (rewrite <- exp_plus; f_equal; ring).
  rewrite Ea, Eb. field. lra.
Qed.

Lemma valid_empty : valid empty.
Proof. intros _ x; reflexivity. Qed.

Lemma valid_merge : forall a b, valid a -> valid b -> valid (merge a b).
Proof.
  intros [fa [la|]] [fb [lb|]] Ha Hb; unfold merge, valid in *; simpl in *; auto; discriminate.
Qed.

(* A valid state is determined by its mass and moments. *)
Lemma st_eq_of_mass : forall a b, valid a -> valid b -> mass a = mass b ->
  (forall x, mom a x = mom b x) -> st_eq a b.
Proof.
  intros [fa [la|]] [fb [lb|]] Ha Hb Hm Hn; unfold valid, st_eq, mom, mass in *; simpl in *.
  - apply exp_inv in Hm. subst lb. split; [reflexivity|].
    intro x. specialize (Hn x). pose proof (exp_pos la).
    apply Rmult_eq_reg_l with (exp la); [exact Hn | lra].
  - pose proof (exp_pos la); lra.
  - pose proof (exp_pos lb); lra.
  - split; [reflexivity|]. intro x. rewrite (Ha eq_refl x), (Hb eq_refl x). reflexivity.
Qed.

Lemma mass_of_st_eq : forall a b, st_eq a b -> mass a = mass b.
Proof. intros a b [Hl _]. unfold mass. rewrite Hl. reflexivity. Qed.

Lemma mom_of_st_eq : forall a b x, st_eq a b -> mom a x = mom b x.
Proof. intros a b x [Hl Ho]. unfold mom. rewrite (mass_of_st_eq a b (conj Hl Ho)), Ho. reflexivity. Qed.

Lemma st_eq_refl : forall a, st_eq a a.
Proof. intro a. split; reflexivity. Qed.

Lemma st_eq_sym : forall a b, st_eq a b -> st_eq b a.
Proof. intros a b [H1 H2]. split; [symmetry; exact H1 | intro x; symmetry; apply H2]. Qed.

Lemma st_eq_trans : forall a b c, st_eq a b -> st_eq b c -> st_eq a c.
Proof.
  intros a b c [H1 H2] [H3 H4]. split; [congruence | intro x; rewrite H2; apply H4].
Qed.

(* ------------------------------------------------------------------------------------------ *)
(* The algebra: a commutative monoid on valid states, with (0, -inf) as identity. *)

Theorem merge_comm : forall a b, valid a -> valid b -> st_eq (merge a b) (merge b a).
Proof.
  intros a b Ha Hb. apply st_eq_of_mass; try (apply valid_merge; assumption).
  - rewrite !merge_mass. ring.
  - intro x. rewrite !merge_mom. ring.
Qed.

Theorem merge_assoc : forall a b c, valid a -> valid b -> valid c ->
  st_eq (merge (merge a b) c) (merge a (merge b c)).
Proof.
  intros a b c Ha Hb Hc.
  apply st_eq_of_mass; repeat (apply valid_merge); try assumption.
  - rewrite !merge_mass. ring.
  - intro x. rewrite !merge_mom. ring.
Qed.

(* Merging the empty state on the right changes nothing, bit for bit (deft_merge returns first). *)
Theorem merge_empty_r : forall a, merge a empty = a.
Proof. intros a. reflexivity. Qed.

Theorem merge_empty_l : forall a, valid a -> st_eq (merge empty a) a.
Proof.
  intros [f [l|]] Ha; unfold merge; simpl.
  - apply st_eq_refl.
  - split; [reflexivity | intro x; simpl; symmetry; apply (Ha eq_refl)].
Qed.

(* The merge respects equality of states (so the laws above compose). *)
Theorem merge_proper : forall a a' b b', valid a -> valid a' -> valid b -> valid b' ->
  st_eq a a' -> st_eq b b' -> st_eq (merge a b) (merge a' b').
Proof.
  intros a a' b b' Ha Ha' Hb Hb' Ea Eb.
  apply st_eq_of_mass; try (apply valid_merge; assumption).
  - rewrite !merge_mass, (mass_of_st_eq _ _ Ea), (mass_of_st_eq _ _ Eb). reflexivity.
  - intro x. rewrite !merge_mom, (mom_of_st_eq _ _ x Ea), (mom_of_st_eq _ _ x Eb). reflexivity.
Qed.

(* Shifting every LSE by c (cpu/deft_cpu.c's reduce_query merges lse_e - big, then adds big back)
   commutes with the merge. *)
Definition shift (c : R) (s : state) : state :=
  mk (o s) (match lse s with None => None | Some l => Some (l + c) end).

Lemma mass_shift : forall c s, mass (shift c s) = exp c * mass s.
Proof. intros c [f [l|]]; unfold mass, shift; simpl; [rewrite exp_plus; ring | ring]. Qed.

Lemma mom_shift : forall c s x, mom (shift c s) x = exp c * mom s x.
Proof. intros c s x. unfold mom. rewrite mass_shift. simpl. ring. Qed.

Lemma valid_shift : forall c s, valid s -> valid (shift c s).
Proof. intros c [f [l|]] H; unfold valid, shift in *; simpl in *; [discriminate | exact H]. Qed.

Theorem merge_shift : forall c a b, valid a -> valid b ->
  st_eq (merge (shift c a) (shift c b)) (shift c (merge a b)).
Proof.
  intros c a b Ha Hb.
  apply st_eq_of_mass; try (apply valid_merge || apply valid_shift); try (apply valid_shift);
    try (apply valid_merge); try assumption.
  - rewrite merge_mass, !mass_shift, merge_mass. ring.
  - intro x. rewrite merge_mom, !mom_shift, merge_mom. ring.
Qed.

(* ------------------------------------------------------------------------------------------ *)
(* Softmax attention of one query (one head) over a finite list of tokens. Tokens are of any
   type; score t is the scaled score s_t = scale * q . k_t, value t x the coordinate x of V_t. *)

Section Attention.
Variable token : Type.
Variable score : token -> R.
Variable value : token -> nat -> R.

Fixpoint sumZ (S : list token) : R :=
  match S with [] => 0 | t :: S' => exp (score t) + sumZ S' end.
Fixpoint sumN (S : list token) (x : nat) : R :=
  match S with [] => 0 | t :: S' => exp (score t) * value t x + sumN S' x end.

(* docs/semantics.md, "The result", without the max shift (attn_shift_form puts it back). *)
Definition attn (S : list token) : state :=
  match S with
  | [] => empty
  | _ => mk (fun x => sumN S x / sumZ S) (Some (ln (sumZ S)))
  end.

Lemma sumZ_pos : forall S, S <> [] -> 0 < sumZ S.
Proof.
  intros [|t S] H; [congruence|]. simpl.
  assert (forall S, 0 <= sumZ S) as Hn.
  { induction S0 as [|u S0 IH]; simpl; [lra | pose proof (exp_pos (score u)); lra]. }
  pose proof (exp_pos (score t)); pose proof (Hn S); lra.
Qed.

Lemma sumZ_app : forall S T, sumZ (S ++ T) = sumZ S + sumZ T.
Proof. induction S as [|t S IH]; intro T; simpl; [ring | rewrite IH; ring]. Qed.

Lemma sumN_app : forall S T x, sumN (S ++ T) x = sumN S x + sumN T x.
Proof. induction S as [|t S IH]; intros T x; simpl; [ring | rewrite IH; ring]. Qed.

Lemma sumZ_perm : forall S T, Permutation S T -> sumZ S = sumZ T.
Proof. intros S T H; induction H; simpl; try lra. Qed.

Lemma sumN_perm : forall S T x, Permutation S T -> sumN S x = sumN T x.
Proof. intros S T x H; induction H; simpl; try lra. Qed.

Lemma valid_attn : forall S, valid (attn S).
Proof. intros [|t S]; unfold valid; simpl; [auto | discriminate]. Qed.

Lemma mass_attn : forall S, mass (attn S) = sumZ S.
Proof.
  intros [|t S]; [reflexivity|].
  change (mass (attn (t :: S))) with (exp (ln (sumZ (t :: S)))).
  rewrite exp_ln; [reflexivity | apply sumZ_pos; discriminate].
Qed.

Lemma mom_attn : forall S x, mom (attn S) x = sumN S x.
Proof.
  intros S x. unfold mom. rewrite mass_attn. destruct S as [|t S]; [simpl; ring|].
  change (o (attn (t :: S)) x) with (sumN (t :: S) x / sumZ (t :: S)).
  field. apply Rgt_not_eq, sumZ_pos. discriminate.
Qed.

(* A single token's state is (V_t, s_t). *)
Theorem attn_single : forall t, st_eq (attn [t]) (mk (value t) (Some (score t))).
Proof.
  intro t. apply st_eq_of_mass; [apply valid_attn | unfold valid; simpl; discriminate | |].
  - rewrite mass_attn. unfold mass; simpl. ring.
  - intro x. rewrite mom_attn. unfold mom, mass; simpl. ring.
Qed.

(* The definition as docs/semantics.md writes it: subtracting any m (the max of the scores, say)
   changes nothing. *)
Fixpoint sumZm (m : R) (S : list token) : R :=
  match S with [] => 0 | t :: S' => exp (score t - m) + sumZm m S' end.
Fixpoint sumNm (m : R) (S : list token) (x : nat) : R :=
  match S with [] => 0 | t :: S' => exp (score t - m) * value t x + sumNm m S' x end.

Lemma sumZm_eq : forall m S, sumZm m S = exp (- m) * sumZ S.
Proof.
  intros m; induction S as [|t S IH]; simpl; [ring|].
  rewrite IH. unfold Rminus. rewrite exp_plus. ring.
Qed.

Lemma sumNm_eq : forall m S x, sumNm m S x = exp (- m) * sumN S x.
Proof.
  intros m; induction S as [|t S IH]; intro x; simpl; [ring|].
  rewrite IH. unfold Rminus. rewrite exp_plus. ring.
Qed.

Theorem attn_shift_form : forall m S, S <> [] ->
  lse (attn S) = Some (m + ln (sumZm m S)) /\
  forall x, o (attn S) x = sumNm m S x / sumZm m S.
Proof.
  intros m S HS. pose proof (sumZ_pos S HS) as Hz. pose proof (exp_pos (- m)) as He.
  destruct S as [|t S']; [congruence|]. set (S := t :: S') in *.
  change (lse (attn S)) with (Some (ln (sumZ S))).
  change (forall x, o (attn S) x = sumNm m S x / sumZm m S) with
    (forall x, sumN S x / sumZ S = sumNm m S x / sumZm m S).
  rewrite sumZm_eq.
  split.
  - f_equal. rewrite ln_mult by assumption. rewrite ln_exp. ring.
  - intro x. rewrite sumNm_eq. field. split; lra.
Qed.

(* Attention over a set does not depend on how the set is listed. *)
Theorem attn_perm : forall S T, Permutation S T -> st_eq (attn S) (attn T).
Proof.
  intros S T H. apply st_eq_of_mass; try apply valid_attn.
  - rewrite !mass_attn. apply sumZ_perm; assumption.
  - intro x. rewrite !mom_attn. apply sumN_perm; assumption.
Qed.

Theorem attn_set : forall S T, NoDup S -> NoDup T -> (forall t, In t S <-> In t T) ->
  st_eq (attn S) (attn T).
Proof. intros S T HS HT H. apply attn_perm, NoDup_Permutation; assumption. Qed.

(* ------------------------------------------------------------------------------------------ *)
(* The partition theorem. *)

(* Left fold, as the reduction loop runs it: acc = merge(acc, next). *)
Lemma fold_merge_mass : forall (l : list state) init,
  mass (fold_left merge l init) = mass init + fold_right (fun s r => mass s + r) 0 l.
Proof.
  induction l as [|s l IH]; intro init; simpl; [ring|]. rewrite IH, merge_mass. ring.
Qed.

Lemma fold_merge_mom : forall (l : list state) init x,
  mom (fold_left merge l init) x = mom init x + fold_right (fun s r => mom s x + r) 0 l.
Proof.
  induction l as [|s l IH]; intros init x; simpl; [ring|]. rewrite IH, merge_mom. ring.
Qed.

Lemma fold_merge_valid : forall (l : list state) init,
  Forall valid l -> valid init -> valid (fold_left merge l init).
Proof.
  induction l as [|s l IH]; intros init Hl Hi; simpl; [exact Hi|].
  inversion Hl; subst. apply IH; [assumption | apply valid_merge; assumption].
Qed.

Lemma mass_chunks : forall chunks,
  fold_right (fun s r => mass s + r) 0 (map attn chunks) = sumZ (concat chunks).
Proof.
  induction chunks as [|c cs IH]; simpl; [reflexivity|].
  rewrite IH, sumZ_app, mass_attn. reflexivity.
Qed.

Lemma mom_chunks : forall chunks x,
  fold_right (fun s r => mom s x + r) 0 (map attn chunks) = sumN (concat chunks) x.
Proof.
  induction chunks as [|c cs IH]; intro x; simpl; [reflexivity|].
  rewrite IH, sumN_app, mom_attn. reflexivity.
Qed.

(* Partition theorem, fold form: if the chunks' tokens, put together, are the tokens of S, each
   as often (a permutation), merging the chunks' states left to right from the empty state gives
   exactly the attention over S. *)
Theorem partition_fold : forall (chunks : list (list token)) S,
  Permutation (concat chunks) S ->
  st_eq (fold_left merge (map attn chunks) empty) (attn S).
Proof.
  intros chunks S HP. apply st_eq_of_mass.
  - apply fold_merge_valid; [apply Forall_forall; intros s Hs; apply in_map_iff in Hs;
                             destruct Hs as [c [<- _]]; apply valid_attn | apply valid_empty].
  - apply valid_attn.
  - rewrite fold_merge_mass, mass_chunks, mass_attn. unfold mass; simpl.
    rewrite Rplus_0_l. apply sumZ_perm; assumption.
  - intro x. rewrite fold_merge_mom, mom_chunks, mom_attn. unfold mom, mass; simpl.
    rewrite Rmult_0_l, Rplus_0_l. apply sumN_perm; assumption.
Qed.

(* ... in any order of the chunks. *)
Theorem partition_any_order : forall (chunks chunks' : list (list token)) S,
  Permutation chunks chunks' -> Permutation (concat chunks) S ->
  st_eq (fold_left merge (map attn chunks') empty) (attn S).
Proof.
  intros chunks chunks' S Hc HP. apply partition_fold.
  apply Permutation_trans with (concat chunks); [|exact HP].
  apply Permutation_sym. clear HP.
  induction Hc; simpl; auto.
  - apply Permutation_app_head; assumption.
  - rewrite !app_assoc. apply Permutation_app_tail, Permutation_app_comm.
  - eapply Permutation_trans; eassumption.
Qed.

(* ... and in any bracketing: a binary tree of merges whose leaves are the chunks. *)
Inductive mtree := Leaf (c : list token) | Node (l r : mtree).

Fixpoint eval (t : mtree) : state :=
  match t with Leaf c => attn c | Node l r => merge (eval l) (eval r) end.
Fixpoint leaves (t : mtree) : list token :=
  match t with Leaf c => c | Node l r => leaves l ++ leaves r end.

Lemma eval_mass_mom : forall t, valid (eval t) /\ mass (eval t) = sumZ (leaves t) /\
  forall x, mom (eval t) x = sumN (leaves t) x.
Proof.
  induction t as [c | l [Vl [Ml Nl]] r [Vr [Mr Nr]]]; simpl.
  - split; [apply valid_attn | split; [apply mass_attn | intro x; apply mom_attn]].
  - split; [apply valid_merge; assumption|].
    split; [rewrite merge_mass, sumZ_app, Ml, Mr; reflexivity|].
    intro x. rewrite merge_mom, sumN_app, Nl, Nr. reflexivity.
Qed.

Theorem partition_tree : forall (t : mtree) S,
  Permutation (leaves t) S -> st_eq (eval t) (attn S).
Proof.
  intros t S HP. destruct (eval_mass_mom t) as [V [M N]].
  apply st_eq_of_mass; [exact V | apply valid_attn | |].
  - rewrite M, mass_attn. apply sumZ_perm; assumption.
  - intro x. rewrite N, mom_attn. apply sumN_perm; assumption.
Qed.

(* "Covers each token exactly once" in its usual form: no token twice among the chunks, and
   the same tokens as S. *)
Theorem partition_exactly_once : forall (chunks : list (list token)) S,
  NoDup (concat chunks) -> NoDup S -> (forall t, In t (concat chunks) <-> In t S) ->
  st_eq (fold_left merge (map attn chunks) empty) (attn S).
Proof. intros chunks S H1 H2 H3. apply partition_fold, NoDup_Permutation; assumption. Qed.

(* The CPU reduction (cpu/deft_cpu.c, reduce_query): every partial's LSE is shifted by -big
   before merging and big is added back at the end. Same result. *)
Lemma fold_shift : forall c (l : list state) init, Forall valid l -> valid init ->
  st_eq (fold_left merge (map (shift c) l) (shift c init)) (shift c (fold_left merge l init)).
Proof.
  intros c l. induction l as [|s l IH]; intros init Hl Hi; simpl; [apply st_eq_refl|].
  inversion Hl; subst.
  assert (E : st_eq (merge (shift c init) (shift c s)) (shift c (merge init s)))
    by (apply merge_shift; assumption).
  (* fold_left respects st_eq on the accumulator: compare masses and moments *)
  destruct (IH (merge init s) H2 (valid_merge _ _ Hi H1)) as [IHl IHo].
  assert (Hacc : forall l' a b, Forall valid l' -> valid a -> valid b -> st_eq a b ->
            st_eq (fold_left merge l' a) (fold_left merge l' b)).
  { intros l' a b Hl' Ha Hb Eab. apply st_eq_of_mass; try (apply fold_merge_valid; assumption).
    - rewrite !fold_merge_mass, (mass_of_st_eq _ _ Eab). reflexivity.
    - intro x. rewrite !fold_merge_mom, (mom_of_st_eq _ _ x Eab). reflexivity. }
  apply st_eq_trans with (fold_left merge (map (shift c) l) (shift c (merge init s))).
  - apply Hacc; [ | apply valid_merge; apply valid_shift; assumption
                  | apply valid_shift, valid_merge; assumption | exact E].
    apply Forall_forall. intros y Hy. apply in_map_iff in Hy. destruct Hy as [z [<- Hz]].
    apply valid_shift. rewrite Forall_forall in H2. apply H2, Hz.
  - split; assumption.
Qed.

Theorem reduce_shifted : forall c (chunks : list (list token)) S,
  Permutation (concat chunks) S ->
  st_eq (shift c (fold_left merge (map (shift (- c)) (map attn chunks)) empty)) (attn S).
Proof.
  intros c chunks S HP.
  assert (Hv : Forall valid (map attn chunks)).
  { apply Forall_forall; intros s Hs; apply in_map_iff in Hs; destruct Hs as [ch [<- _]].
    apply valid_attn. }
  replace empty with (shift (- c) empty) by reflexivity.
  destruct (fold_shift (- c) (map attn chunks) empty Hv valid_empty) as [H1 H2].
  apply st_eq_trans with (shift c (shift (- c) (fold_left merge (map attn chunks) empty))).
  - split; simpl; [rewrite H1; reflexivity | intro x; apply H2].
  - apply st_eq_trans with (fold_left merge (map attn chunks) empty);
      [| apply partition_fold; exact HP].
    split; [|reflexivity]. simpl.
    destruct (lse (fold_left merge (map attn chunks) empty)); [f_equal; ring | reflexivity].
Qed.

End Attention.
